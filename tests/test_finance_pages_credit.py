"""The finance pages' corrections and settings: crediting and voiding an invoice from its page,
the credit notes (list, one, its PDF), the billing profile with the tax rule it makes, and
what a reservation has been billed on the reservations list.

The invoice (`_finalised`): November's draft of 6.30 (compute 5.40, a late 0.90 of October)
finalised on 5 December by a platform in Ireland for an organization without a billing
profile: VAT at Ireland's 23 %, 6.30 x 0.23 = 1.449 -> 1.45, total 7.75."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.test import Client

from accounts.models import Role
from billing import views
from billing.models import (
    BillingProfile,
    CreditNote,
    Invoice,
    InvoiceLineKind,
    InvoiceNumberCounter,
    JournalEntry,
)
from billing.models import InvoiceStatus as S
from billing.selectors import org_receivable
from billing.services.credit_notes import CreditRequest, credit_note_issue
from billing.services.finalisation import invoice_finalize
from marketplace.models import Reservation
from tests.factories import OfferFactory
from tests.test_finance_pages import _draft_with_lines, _member, _signed_in, _text

pytestmark = pytest.mark.django_db

FINALISED_AT = datetime(2026, 12, 5, 10, 30, tzinfo=UTC)
CREDITED_AT = FINALISED_AT + timedelta(hours=1)
D = Decimal


@pytest.fixture(autouse=True)
def _platform_in_ireland(settings):
    settings.PLATFORM_COUNTRY = "IE"
    settings.PLATFORM_LEGAL_NAME = "GPU Market Ltd"
    settings.PLATFORM_ADDRESS = "1 Dock Road; Dublin 1"
    settings.PLATFORM_VAT_ID = "IE6388047V"


def _finalised(org) -> Invoice:
    invoice, _ = _draft_with_lines(org)
    with time_machine.travel(FINALISED_AT, tick=False):
        invoice_finalize(invoice_id=invoice.pk)
    return Invoice.objects.get(pk=invoice.pk)


def _lines(invoice: Invoice) -> dict[str, int]:
    return {line.kind: line.pk for line in invoice.lines.all()}


def _state(invoice: Invoice) -> tuple:
    """What a refused action must leave as it was."""
    invoice = Invoice.objects.get(pk=invoice.pk)
    return (
        invoice.status,
        invoice.amount_due,
        invoice.updated_at,
        CreditNote.objects.count(),
        JournalEntry.objects.count(),
        list(InvoiceNumberCounter.objects.order_by("series").values_list("series", "last")),
    )


def _credit(client, invoice: Invoice, data: dict):
    with time_machine.travel(CREDITED_AT, tick=False):
        return client.post(f"/invoices/{invoice.pk}/credit-notes/", data)


# --- the invoice: tax, parties, credit notes and actions -------------------------------------


def test_a_finalised_invoice_shows_its_tax_parties_and_both_actions(client):
    # given an organization in Germany with a VAT id, whose draft is finalised
    finance = _signed_in(client)
    BillingProfile.objects.create(
        org=finance.org, legal_name="Rechenwerk GmbH", address_line1="Hauptstr. 1",
        postal_code="10115", city="Berlin", country="DE", vat_id="DE123456789",
        email="ap@rechenwerk.example",
    )  # fmt: skip
    invoice = _finalised(finance.org)

    html = client.get(f"/invoices/{invoice.pk}/").content.decode()

    # then the reverse charge, both parties as frozen, nothing credited, and both actions
    text = _text(html)
    assert "Subtotal 6.30 Tax 0.00 Total 6.30 Amount due 6.30 Tax rate 0.00 % Credited 0.00" in text
    assert (
        "Reverse charge: VAT to be accounted for by the recipient, Article 196 of Council "
        "Directive 2006/112/EC"
    ) in text
    assert (
        "Buyer Rechenwerk GmbH Hauptstr. 1 10115 Berlin Germany VAT id DE123456789 "
        "ap@rechenwerk.example"
    ) in text
    assert "Seller GPU Market Ltd 1 Dock Road Dublin 1 IE VAT id IE6388047V" in text
    assert f'action="/invoices/{invoice.pk}/credit-notes/"' in html
    assert f'action="/invoices/{invoice.pk}/void/"' in html
    assert 'data-confirm="Void invoice GM-2026-000001? It will charge nothing' in html
    assert "No credit notes." in text
    compute = _lines(invoice)[InvoiceLineKind.COMPUTE]
    assert f'name="line_{compute}"' in html
    assert html.count("csrfmiddlewaretoken") >= 3  # the sign-out form, credit and void


def test_a_draft_has_neither_credit_nor_void(client):
    finance = _signed_in(client)
    invoice, _ = _draft_with_lines(finance.org)
    html = client.get(f"/invoices/{invoice.pk}/").content.decode()
    assert 'id="credit-form"' not in html and 'id="void-form"' not in html
    assert "decided at finalisation" in html
    assert 'id="credit-notes"' not in html


def test_it_credits_one_line_and_shows_the_credit_note(client):
    # given the invoice of 7.75 (23 % VAT)
    finance = _signed_in(client)
    invoice = _finalised(finance.org)
    lines = _lines(invoice)

    # when finance credits 2.00 of the compute line
    response = _credit(
        client,
        invoice,
        {"reason": "GPU was slow", "amount": "", f"line_{lines['compute']}": "2.00",
         f"line_{lines['adjustment']}": ""},
    )  # fmt: skip

    # then the credit note's page: 2.00 + 2.00 x 1.45 / 6.30 = 0.4603 -> 0.46 tax = 2.46
    note = CreditNote.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/invoices/credit-notes/{note.pk}/"
    html = client.get(response["Location"]).content.decode()
    text = _text(html)
    assert "Credit note CN-2026-000001 issued on invoice GM-2026-000001." in text
    assert 'id="number">CN-2026-000001<' in html
    assert "Issued 2026-12-05 11:30 UTC Reason GPU was slow Currency USD" in text
    assert "Subtotal 2.00 Tax 0.46 Total 2.46" in text
    reservation = invoice.lines.get(pk=lines["compute"]).reservation_id
    assert f"{lines['compute']} {reservation} Credit: Reservation {reservation}, November 2.00" in (
        text
    )
    assert f'href="/invoices/credit-notes/{note.pk}/pdf/"' in html
    # and the invoice owes 7.75 - 2.46 = 5.29, lists the note, and can no longer be voided
    stored = Invoice.objects.get(pk=invoice.pk)
    assert (stored.status, stored.amount_due) == (S.OPEN, D("5.29"))
    assert org_receivable(org=finance.org, currency="USD") == D("5.29")
    html = client.get(f"/invoices/{invoice.pk}/").content.decode()
    text = _text(html)
    assert "Amount due 5.29 Tax rate 23.00 % Credited 2.46" in text
    assert f'<a href="/invoices/credit-notes/{note.pk}/">CN-2026-000001</a>' in html
    assert "2026-12-05 GPU was slow 2.00 0.46 2.46" in text
    assert 'id="void-form"' not in html and 'id="credit-form"' in html


def test_it_credits_an_amount_spread_over_the_lines(client):
    finance = _signed_in(client)
    invoice = _finalised(finance.org)

    response = _credit(client, invoice, {"reason": "Half off", "amount": "3.15"})

    # then 3.15 x 5.40 / 6.30 = 2.70 and the rest, 0.45; tax 3.15 x 1.45 / 6.30 = 0.725 -> 0.73
    assert response.status_code == 302
    note = CreditNote.objects.get()
    assert (note.subtotal, note.tax, note.total) == (D("3.15"), D("0.73"), D("3.88"))
    assert sorted(note.lines.values_list("amount", flat=True)) == [D("0.45"), D("2.70")]
    assert Invoice.objects.get(pk=invoice.pk).amount_due == D("3.87")  # 7.75 - 3.88


def test_crediting_the_whole_invoice_leaves_no_action(client):
    finance = _signed_in(client)
    invoice = _finalised(finance.org)
    _credit(client, invoice, {"reason": "Outage", "amount": "6.30"})
    html = client.get(f"/invoices/{invoice.pk}/").content.decode()
    assert 'id="status">paid<' in html
    assert "Credited 7.75" in _text(html)
    assert 'id="credit-form"' not in html and 'id="void-form"' not in html
    assert "can be neither credited nor voided: it is credited in full." in html


def test_crediting_a_draft_is_the_409_page(client):
    finance = _signed_in(client)
    invoice, _ = _draft_with_lines(finance.org)
    before = _state(invoice)
    response = _credit(client, invoice, {"reason": "x", "amount": "1.00"})
    assert response.status_code == 409
    html = response.content.decode()
    assert "A draft cannot be credited: it still changes with usage. Finalise it first." in html
    assert "invoice_not_finalised" in html
    assert _state(invoice) == before


def test_crediting_a_void_invoice_is_the_409_page(client):
    finance = _signed_in(client)
    invoice = _finalised(finance.org)
    client.post(f"/invoices/{invoice.pk}/void/")
    before = _state(invoice)
    response = _credit(client, invoice, {"reason": "x", "amount": "1.00"})
    assert response.status_code == 409
    html = response.content.decode()
    assert "invoice_not_creditable" in html
    assert "Invoice GM-2026-000001 is void: only an open or paid invoice can be credited." in html
    assert _state(invoice) == before


def test_crediting_more_than_the_invoice_is_the_409_page_and_changes_nothing(client):
    # given the invoice with 5.40 of its compute line credited already (6.64 with tax)
    finance = _signed_in(client)
    invoice = _finalised(finance.org)
    credit_note_issue(
        invoice_id=invoice.pk,
        request=CreditRequest(reason="first", lines=[(_lines(invoice)["compute"], D("5.40"))]),
    )
    before = _state(invoice)

    # when 0.91 more is asked for, 0.01 more than the 0.90 left
    response = _credit(client, invoice, {"reason": "again", "amount": "0.91"})

    assert response.status_code == 409
    html = response.content.decode()
    assert "credit_exceeds_invoice" in html
    assert "The invoice&#x27;s lines have 0.90 USD left to credit; 0.91 is more." in html
    assert _state(invoice) == before


def test_more_than_a_line_has_left_is_a_form_error_beside_it(client):
    finance = _signed_in(client)
    invoice = _finalised(finance.org)
    compute = _lines(invoice)["compute"]
    before = _state(invoice)

    response = _credit(client, invoice, {"reason": "x", f"line_{compute}": "5.41"})

    assert response.status_code == 400
    html = response.content.decode()
    assert f'aria-describedby="id_line_{compute}_error"' in html
    assert (
        f'<span class="error" id="id_line_{compute}_error" role="alert">Line {compute} has 5.40 '
        "USD left to credit; 5.41 is more.</span>"
    ) in html
    assert 'value="5.41"' in html  # the form keeps what was typed
    assert _state(invoice) == before


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"reason": "", "amount": "1.00"}, "reason", "This field is required."),
        ({"reason": "x", "amount": "-1"}, "amount", "greater than or equal to 0.01"),
        ({"reason": "x", "amount": "1.001"}, "amount", "no more than 2 decimal places"),
        ({"reason": "x", "amount": "lots"}, "amount", "Enter a number."),
    ],
)
def test_malformed_credit_input_is_a_form_error(client, data, field, message):
    finance = _signed_in(client)
    invoice = _finalised(finance.org)
    before = _state(invoice)
    response = _credit(client, invoice, data)
    assert response.status_code == 400
    html = response.content.decode()
    assert f'<span class="error" id="id_{field}_error" role="alert">' in html
    assert message in html
    assert _state(invoice) == before


@pytest.mark.parametrize("both", [True, False])
def test_an_amount_and_lines_or_neither_is_a_form_error(client, both):
    finance = _signed_in(client)
    invoice = _finalised(finance.org)
    data = {"reason": "x"} | (
        {"amount": "1.00", f"line_{_lines(invoice)['compute']}": "1.00"} if both else {}
    )
    response = _credit(client, invoice, data)
    assert response.status_code == 400
    assert (
        "Give either an amount for the whole invoice or amounts per line, not both."
        in response.content.decode()
    )
    assert CreditNote.objects.count() == 0


def test_it_voids_an_open_invoice_and_voiding_twice_is_the_409_page(client):
    finance = _signed_in(client)
    invoice = _finalised(finance.org)

    response = client.post(f"/invoices/{invoice.pk}/void/", follow=True)

    assert response.redirect_chain == [(f"/invoices/{invoice.pk}/", 302)]
    html = response.content.decode()
    assert "Invoice GM-2026-000001 voided." in html
    assert 'id="status">void<' in html and "Amount due 0.00" in _text(html)
    assert 'id="void-form"' not in html and 'id="credit-form"' not in html
    assert org_receivable(org=finance.org, currency="USD") == D("0")
    before = _state(invoice)

    again = client.post(f"/invoices/{invoice.pk}/void/")

    assert again.status_code == 409
    assert (
        "Invoice GM-2026-000001 is void: only an open invoice with nothing paid or credited "
        "can be voided."
    ) in again.content.decode()
    assert _state(invoice) == before


def test_a_credited_invoice_cannot_be_voided(client):
    finance = _signed_in(client)
    invoice = _finalised(finance.org)
    _credit(client, invoice, {"reason": "x", "amount": "1.00"})
    before = _state(invoice)
    response = client.post(f"/invoices/{invoice.pk}/void/")
    assert response.status_code == 409
    assert "invoice_not_voidable" in response.content.decode()
    assert _state(invoice) == before


def test_the_actions_take_only_a_post_with_its_csrf_token(client):
    finance = _signed_in(client)
    invoice = _finalised(finance.org)
    before = _state(invoice)
    assert client.get(f"/invoices/{invoice.pk}/void/").status_code == 405
    assert client.get(f"/invoices/{invoice.pk}/credit-notes/").status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(finance.user)
    assert strict.post(f"/invoices/{invoice.pk}/void/").status_code == 403
    assert (
        strict.post(
            f"/invoices/{invoice.pk}/credit-notes/", {"reason": "x", "amount": "1.00"}
        ).status_code
        == 403
    )
    assert strict.post("/invoices/billing-profile/", {"legal_name": "x"}).status_code == 403
    assert _state(invoice) == before
    assert not BillingProfile.objects.exists()


# --- the credit notes ------------------------------------------------------------------------


def test_the_credit_notes_list_newest_first_with_their_invoices(client):
    finance = _signed_in(client)
    first = _finalised(finance.org)
    with time_machine.travel(CREDITED_AT, tick=False):
        older = credit_note_issue(
            invoice_id=first.pk, request=CreditRequest(reason="slow", amount=D("1.00"))
        )
        newer = credit_note_issue(
            invoice_id=first.pk, request=CreditRequest(reason="outage", amount=D("2.00"))
        )
    credit_note_issue(  # another organization's
        invoice_id=_finalised(_member().org).pk, request=CreditRequest(reason="x", amount=D("1"))
    )

    html = client.get("/invoices/credit-notes/").content.decode()

    # 1.00 + 0.23 (1.00 x 1.45 / 6.30 = 0.2302) and 2.00 + 0.46
    assert re.findall(r'<th scope="row"><a href="/invoices/credit-notes/(\d+)/">', html) == [
        str(newer.pk), str(older.pk),
    ]  # fmt: skip
    text = _text(html)
    assert "CN-2026-000002 GM-2026-000001 2026-12-05 outage USD 2.00 0.46 2.46 PDF" in text
    assert "CN-2026-000001 GM-2026-000001 2026-12-05 slow USD 1.00 0.23 1.23 PDF" in text
    assert f'href="/invoices/{first.pk}/"' in html


def test_the_credit_notes_list_pages_in_a_fixed_number_of_queries(
    client, monkeypatch, django_assert_max_num_queries
):
    # given 12 credit notes of 0.10 and pages of 5
    monkeypatch.setattr(views, "PAGE_SIZE", 5)
    finance = _signed_in(client)
    invoice = _finalised(finance.org)
    notes = [
        credit_note_issue(invoice_id=invoice.pk, request=CreditRequest(reason="x", amount=D("0.1")))
        for _ in range(12)
    ]
    first = client.get("/invoices/credit-notes/").content.decode()
    next_url = re.search(r'<a href="(\?[^"]+)" rel="next">', first).group(1).replace("&amp;", "&")

    # when the second page is read: five queries (session, user, membership, credit notes
    # with their invoices, the funds notice), the navigation included
    with django_assert_max_num_queries(5):
        html = client.get("/invoices/credit-notes/" + next_url).content.decode()
    listed = re.findall(r'<th scope="row"><a href="/invoices/credit-notes/(\d+)/">', html)
    assert listed == [str(n.pk) for n in reversed(notes)][5:10]
    assert 'href="/invoices/billing-profile/"' in html


def test_it_downloads_a_credit_notes_pdf(client):
    finance = _signed_in(client)
    invoice = _finalised(finance.org)
    note = credit_note_issue(invoice_id=invoice.pk, request=CreditRequest(reason="x", amount=D(1)))
    response = client.get(f"/invoices/credit-notes/{note.pk}/pdf/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == (
        f'attachment; filename="credit-note-{note.number}.pdf"'
    )
    assert response.content.startswith(b"%PDF-")


# --- refusals ----------------------------------------------------------------------------------


def test_another_organizations_invoice_and_credit_note_are_not_found(client):
    # given another organization's invoice with a credit note
    other = _finalised(_member().org)
    note = credit_note_issue(invoice_id=other.pk, request=CreditRequest(reason="x", amount=D(1)))
    before = _state(other)
    # when finance of a third organization tries each page and action
    _signed_in(client)
    responses = [
        client.post(f"/invoices/{other.pk}/credit-notes/", {"reason": "x", "amount": "1.00"}),
        client.post(f"/invoices/{other.pk}/void/"),
        client.get(f"/invoices/credit-notes/{note.pk}/"),
        client.get(f"/invoices/credit-notes/{note.pk}/pdf/"),
    ]
    # then none exists for them, and nothing changed
    assert [r.status_code for r in responses] == [404] * 4
    assert _state(other) == before
    assert "No credit notes yet." in client.get("/invoices/credit-notes/").content.decode()


@pytest.mark.parametrize("role", [Role.BUYER, Role.PROVIDER])
def test_members_without_billing_are_refused_the_new_pages(client, role):
    member = _signed_in(client, role)
    invoice = _finalised(member.org)
    note = credit_note_issue(invoice_id=invoice.pk, request=CreditRequest(reason="x", amount=D(1)))
    before = _state(invoice)
    profile = {"legal_name": "X", "address_line1": "1 Road", "postal_code": "1",
               "city": "Cork", "country": "IE", "email": "a@example.com"}  # fmt: skip
    responses = [
        client.post(f"/invoices/{invoice.pk}/credit-notes/", {"reason": "x", "amount": "1.00"}),
        client.post(f"/invoices/{invoice.pk}/void/"),
        client.get("/invoices/credit-notes/"),
        client.get(f"/invoices/credit-notes/{note.pk}/"),
        client.get(f"/invoices/credit-notes/{note.pk}/pdf/"),
        client.get("/invoices/billing-profile/"),
        client.post("/invoices/billing-profile/", profile),
    ]
    assert [r.status_code for r in responses] == [403] * 7
    assert all(
        f"The role &#x27;{role}&#x27; may not do this (billing)." in r.content.decode()
        for r in responses
    )
    assert _state(invoice) == before
    assert not BillingProfile.objects.exists()


# --- the billing profile -----------------------------------------------------------------------

PROFILE = {
    "legal_name": "Rechenwerk GmbH",
    "address_line1": "Hauptstr. 1",
    "address_line2": "",
    "postal_code": "10115",
    "city": "Berlin",
    "country": "de",
    "vat_id": "de 123.456-789",
    "email": "ap@rechenwerk.example",
}


def test_without_a_profile_the_page_says_the_sellers_rate_applies(client):
    _signed_in(client)
    response = client.get("/invoices/billing-profile/")
    assert response.status_code == 200
    html = response.content.decode()
    assert (
        "Without a billing profile the place of supply is unknown: invoices finalised now "
        "carry the VAT of Ireland, the platform&#x27;s country, at 23 %."
    ) in html
    assert 'name="legal_name"' in html and 'id="id_country_helptext"' in html


def test_it_saves_the_profile_normalised_and_says_the_reverse_charge_applies(client):
    finance = _signed_in(client)

    response = client.post("/invoices/billing-profile/", PROFILE, follow=True)

    assert response.redirect_chain == [("/invoices/billing-profile/", 302)]
    html = response.content.decode()
    assert "Billing profile saved." in html
    profile = BillingProfile.objects.get(org=finance.org)
    assert (profile.legal_name, profile.country, profile.vat_id, profile.city) == (
        "Rechenwerk GmbH", "DE", "DE123456789", "Berlin",
    )  # fmt: skip
    assert (
        "You have a VAT id in Germany, another EU member state: invoices finalised now carry "
        "no VAT (reverse charge, you account for it)."
    ) in html
    assert 'value="DE123456789"' in html and 'value="Rechenwerk GmbH"' in html


@pytest.mark.parametrize(
    ("country", "vat_id", "sentence"),
    [
        ("IE", "IE6388047V", "You are established in Ireland, as the platform is: invoices "
         "finalised now carry its VAT at 23 %."),
        ("FI", "", "Without a VAT id you are a consumer in Finland: invoices finalised now carry "
         "its VAT at 25.5 %."),
        ("US", "", "You are established in United States, outside the EU: invoices finalised "
         "now carry no VAT (outside the scope of EU VAT)."),
    ],
)  # fmt: skip
def test_the_page_names_the_rule_of_the_saved_profile(client, country, vat_id, sentence):
    _signed_in(client)
    client.post("/invoices/billing-profile/", PROFILE | {"country": country, "vat_id": vat_id})
    assert sentence in _text(client.get("/invoices/billing-profile/").content.decode()).replace(
        "&#x27;", "'"
    )


def test_a_platform_outside_the_eu_charges_no_vat(client, settings):
    settings.PLATFORM_COUNTRY = "US"
    _signed_in(client)
    client.post("/invoices/billing-profile/", PROFILE)
    html = client.get("/invoices/billing-profile/").content.decode()
    assert (
        "The platform is established in United States, outside the EU: invoices finalised now "
        "carry no VAT."
    ) in html


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"vat_id": "DE12"}, "vat_id",
         "&#x27;DE12&#x27; does not have the format of a VAT id of DE."),
        ({"vat_id": "FR12345678901"}, "vat_id",
         "A VAT id of DE starts with DE, not &#x27;FR&#x27;."),
        ({"country": "Germany"}, "country",
         "country must be an ISO 3166-1 alpha-2 country code (IE, DE, US...), got "
         "&#x27;Germany&#x27;."),
        ({"email": "nobody"}, "email", "Enter a valid email address."),
        ({"city": ""}, "city", "This field is required."),
    ],
)  # fmt: skip
def test_a_bad_profile_is_a_form_error_beside_its_field_and_nothing_is_saved(
    client, changes, field, message
):
    # given a saved profile
    finance = _signed_in(client)
    client.post("/invoices/billing-profile/", PROFILE)
    before = BillingProfile.objects.values().get(org=finance.org)

    response = client.post("/invoices/billing-profile/", PROFILE | {"legal_name": "New"} | changes)

    assert response.status_code == 400
    html = response.content.decode()
    assert f'aria-describedby="id_{field}_helptext id_{field}_error"' in html or (
        f'aria-describedby="id_{field}_error"' in html
    )
    assert f'<span class="error" id="id_{field}_error" role="alert">{message}</span>' in html
    assert 'value="New"' in html  # the form keeps what was typed
    assert BillingProfile.objects.values().get(org=finance.org) == before


# --- navigation and the reservations' cost -----------------------------------------------------


@pytest.mark.parametrize(("role", "shown"), [(Role.FINANCE, True), (Role.BUYER, False)])
def test_the_navigation_links_credit_notes_and_the_profile_by_permission(client, role, shown):
    _signed_in(client, role)
    header = client.get("/").content.decode().split("</header>")[0]
    assert ('href="/invoices/credit-notes/"' in header) is shown
    assert ('href="/invoices/billing-profile/"' in header) is shown


def _reservation(org, *, cost: str, quoted: str | None) -> Reservation:
    return Reservation.objects.create(
        org=org, offer=OfferFactory(), gpus=1, units=1, hours=D(2),
        price_per_hour=D("3.600000"), reserved_until=FINALISED_AT, cost=D(cost),
        quoted_total=D(quoted) if quoted else None,
    )  # fmt: skip


@pytest.mark.parametrize("role", [Role.BUYER, Role.FINANCE, Role.OWNER])
def test_the_reservations_list_shows_what_each_was_billed_and_quoted(
    client, role, django_assert_max_num_queries
):
    member = _signed_in(client, role)
    quoted = _reservation(member.org, cost="5.41", quoted="7.20")
    unquoted = _reservation(member.org, cost="0.00", quoted=None)
    for _ in range(10):
        _reservation(member.org, cost="1.00", quoted="1.00")

    # session, user, membership, the reservations with their offers, the funds notice: no
    # query per row
    with django_assert_max_num_queries(5):
        html = client.get("/reservations/").content.decode()

    text = _text(html)
    assert '<th scope="col" class="num">Billed</th><th scope="col" class="num">Quoted</th>' in html
    assert re.search(rf"{quoted.pk} \S+ · \S+ 1 3\.600000 pending 5\.41 USD 7\.20 USD ", text)
    assert re.search(rf"{unquoted.pk} \S+ · \S+ 1 3\.600000 pending 0\.00 USD — ", text)


def test_a_provider_sees_no_billed_column(client):
    member = _signed_in(client, Role.PROVIDER)
    _reservation(member.org, cost="5.41", quoted="7.20")
    html = client.get("/reservations/").content.decode()
    assert ">Billed<" not in html and "5.41" not in html


# --- in a browser ------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_finance_issues_a_credit_note_in_the_browser(live_server, page):
    # given a finance member whose organization has a finalised invoice
    finance = _member()
    finance.user.email = "credit@example.com"
    finance.user.save(update_fields=["email"])
    invoice = _finalised(finance.org)
    compute = _lines(invoice)["compute"]

    # when they sign in, open the invoice from the invoices page
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "credit@example.com")
    page.fill("#id_password", "a-good-password-1")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    page.click("header >> text=Invoices")
    page.get_by_role("link", name="GM-2026-000001").click()
    page.wait_for_url(f"{live_server.url}/invoices/{invoice.pk}/")

    # and credit 2.00 of the compute line with a reason
    page.get_by_label("Reason").fill("GPU was slow")
    page.fill(f"#id_line_{compute}", "2.00")
    page.click("#credit")

    # then they see the credit note, numbered in its own series, and its total with tax
    page.wait_for_selector("#number")
    number = page.inner_text("#number")
    year = CreditNote.objects.get().issued_at.year
    assert re.fullmatch(rf"CN-{year}-\d{{6}}", number)
    assert number == f"CN-{year}-000001"
    assert page.inner_text("#total") == "2.46"
    assert f"Credit note {number} issued on invoice GM-2026-000001." in page.inner_text(".messages")

    # and the credit notes page lists it, and the invoice shows what was credited
    page.click("header >> text=Credit notes")
    rows = page.locator("#credit-notes tbody tr")
    assert rows.count() == 1
    assert number in rows.nth(0).inner_text()
    rows.nth(0).get_by_role("link", name="GM-2026-000001").click()
    page.wait_for_url(f"{live_server.url}/invoices/{invoice.pk}/")
    assert page.inner_text("#amount-credited") == "2.46"
    assert page.inner_text("#amount-due") == "5.29"


# --- in a browser ----------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_void_asks_first_from_a_static_script_the_csp_allows(live_server, page):
    # given a finance member and an issued invoice
    finance = _member()
    invoice = _finalised(finance.org)
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    dialogs: list[str] = []

    # when they open it and click Void, but dismiss the question
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", finance.user.email)
    page.fill("#id_password", "a-good-password-1")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/invoices/{invoice.pk}/")
    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.click("#void")

    # then nothing is voided
    assert dialogs == [
        f"Void invoice {invoice.number}? It will charge nothing; this cannot be undone."
    ]
    assert page.inner_text("#status") == "open"
    assert Invoice.objects.get(pk=invoice.pk).status == S.OPEN

    # when they click again and accept, it is void
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#void")
    page.wait_for_selector(".messages")
    assert page.inner_text("#status") == "void"
    # and the page broke no rule of the Content-Security-Policy
    assert console_errors == []
