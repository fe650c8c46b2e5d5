"""The finance pages: invoices (filtered, paged), one invoice with its lines, finalising it,
its files, and the month's exports; for owners, admins and finance members only."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.test import Client

from accounts.models import Role
from billing import views
from billing.models import Invoice, InvoiceLine, InvoiceLineKind, InvoiceNumberCounter
from billing.models import InvoiceStatus as S
from marketplace.models import Reservation
from tests.factories import InvoiceFactory, MembershipFactory, OfferFactory

pytestmark = pytest.mark.django_db

AUGUST = datetime(2026, 8, 1, tzinfo=UTC)
SEPTEMBER = datetime(2026, 9, 1, tzinfo=UTC)
OCTOBER = datetime(2026, 10, 1, tzinfo=UTC)
NOVEMBER = datetime(2026, 11, 1, tzinfo=UTC)
FINALISED_AT = datetime(2026, 12, 5, 10, 30, tzinfo=UTC)


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _listed_ids(html: str) -> list[int]:
    return [
        int(found) for found in re.findall(r'<th scope="row"><a href="/invoices/(\d+)/">', html)
    ]


def _member(role: str = Role.FINANCE, org=None):
    return MembershipFactory(role=role, **({"org": org} if org else {}))


def _signed_in(client, role: str = Role.FINANCE, org=None):
    membership = _member(role, org)
    client.force_login(membership.user)
    return membership


def _draft_with_lines(org) -> tuple[Invoice, Reservation]:
    """November's draft: 90 minutes of November and 15 late minutes of October at 3.60/h."""
    reservation = Reservation.objects.create(
        org=org, offer=OfferFactory(), gpus=1, units=1, hours=Decimal(2),
        price_per_hour=Decimal("3.600000"), reserved_until=NOVEMBER + timedelta(days=2),
    )  # fmt: skip
    invoice = InvoiceFactory(
        org=org, status=S.DRAFT, period_start=NOVEMBER, subtotal=Decimal("6.30"),
        total=Decimal("6.30"), amount_due=Decimal("6.30"),
    )  # fmt: skip
    for kind, month, seconds, amount in (
        (InvoiceLineKind.COMPUTE, NOVEMBER, 5400, Decimal("5.40")),
        (InvoiceLineKind.ADJUSTMENT, OCTOBER, 900, Decimal("0.90")),
    ):
        InvoiceLine.objects.create(
            invoice=invoice, reservation=reservation, kind=kind, service_period_start=month,
            description=f"Reservation {reservation.pk}, {month:%B}", seconds=seconds,
            price_per_hour=Decimal("3.600000"), amount=amount,
        )  # fmt: skip
    return invoice, reservation


def _frozen(invoice: Invoice) -> tuple:
    invoice = Invoice.objects.get(pk=invoice.pk)
    return (invoice.status, invoice.number, invoice.issued_at, invoice.due_at, invoice.total,
            invoice.amount_due, invoice.updated_at)  # fmt: skip


# --- the list --------------------------------------------------------------------------------


@pytest.fixture
def ledger(db):
    """Five invoices of the finance member's organization and one of another."""
    finance = _member()
    org = finance.org
    invoices = {
        "sep_open": InvoiceFactory(org=org, period_start=SEPTEMBER, status=S.OPEN, currency="USD"),
        "sep_paid": InvoiceFactory(org=org, period_start=SEPTEMBER, status=S.PAID, currency="EUR"),
        "aug_open": InvoiceFactory(org=org, period_start=AUGUST, status=S.OPEN),
        "aug_void": InvoiceFactory(org=org, period_start=AUGUST, status=S.VOID),
        "oct_draft": InvoiceFactory(org=org, period_start=OCTOBER, status=S.DRAFT),
    }
    InvoiceFactory(org=_member().org, period_start=SEPTEMBER, status=S.OPEN)
    return finance, invoices


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["oct_draft", "sep_paid", "sep_open", "aug_void", "aug_open"]),
        ({"period": "2026-09"}, ["sep_paid", "sep_open"]),
        ({"status": "open"}, ["sep_open", "aug_open"]),
        ({"period": "2026-09", "status": "open"}, ["sep_open"]),
        ({"period": "2026-08", "status": "paid"}, []),
        (
            {"period": "", "status": ""},
            ["oct_draft", "sep_paid", "sep_open", "aug_void", "aug_open"],
        ),
    ],
)
def test_it_filters_invoices_by_period_and_status(client, ledger, params, expected):
    # given finance of an organization with five invoices (another organization has one more)
    finance, invoices = ledger
    client.force_login(finance.user)
    # when the list is filtered
    response = client.get("/invoices/", params)
    # then exactly the invoices chosen by hand show, newest period first, then newest first
    assert response.status_code == 200
    assert _listed_ids(response.content.decode()) == [invoices[name].pk for name in expected]


def test_it_says_when_no_invoice_matches(client, ledger):
    client.force_login(ledger[0].user)
    html = client.get("/invoices/", {"period": "2025-01"}).content.decode()
    assert "No invoices match this filter." in html
    assert 'value="2025-01"' in html  # the form keeps what was asked


def test_it_shows_each_invoices_figures_and_links_to_it(client):
    # given an issued invoice and a draft
    finance = _signed_in(client)
    issued = InvoiceFactory(
        org=finance.org, period_start=SEPTEMBER, status=S.OPEN, number="GM-2026-000007",
        issued_at=OCTOBER + timedelta(hours=2), due_at=OCTOBER + timedelta(days=14, hours=2),
        subtotal=Decimal("100.00"), tax=Decimal("8.10"), total=Decimal("108.10"),
        amount_due=Decimal("108.10"),
    )  # fmt: skip
    draft, _ = _draft_with_lines(finance.org)
    # when the list is opened
    html = client.get("/invoices/").content.decode()
    # then each row has number (or Draft), period, status, currency, amounts, dates and a link
    text = _text(html)
    assert "Draft 2026-11 draft USD 6.30 0.00 6.30 6.30 — — PDF · CSV" in text
    assert (
        "GM-2026-000007 2026-09 open USD 100.00 8.10 108.10 108.10 2026-10-01 2026-10-15 PDF · CSV"
    ) in text
    assert _listed_ids(html) == [draft.pk, issued.pk]


def test_the_filter_stays_on_the_next_pages(client, monkeypatch):
    # given 5 open and 3 paid invoices of September, 2 open of August, and pages of 2
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    finance = _signed_in(client)
    open_september = InvoiceFactory.create_batch(
        5, org=finance.org, period_start=SEPTEMBER, status=S.OPEN
    )
    InvoiceFactory.create_batch(3, org=finance.org, period_start=SEPTEMBER, status=S.PAID)
    InvoiceFactory.create_batch(2, org=finance.org, period_start=AUGUST, status=S.OPEN)

    # when the user filters September's open invoices and follows Next
    pages, url = [], "/invoices/?period=2026-09&status=open"
    while url:
        html = client.get(url).content.decode()
        pages.append(_listed_ids(html))
        found = re.search(r'<a href="(\?[^"]+)" rel="next">', html)
        url = "/invoices/" + found.group(1).replace("&amp;", "&") if found else None
        if url:
            assert "period=2026-09" in url and "status=open" in url

    # then the five, newest first, each once, over three pages
    assert pages == [[i.pk for i in reversed(open_september)][n : n + 2] for n in range(0, 5, 2)]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"period": "2026-13"},
            "&#x27;2026-13&#x27; is not a month written YYYY-MM (e.g. 2026-11).",
        ),
        ({"period": "Sept"}, "&#x27;Sept&#x27; is not a month written YYYY-MM (e.g. 2026-11)."),
        ({"status": "refunded"}, "Select a valid choice. refunded is not one of the available"),
    ],
)
def test_a_malformed_filter_shows_the_form_error(client, ledger, params, message):
    client.force_login(ledger[0].user)
    response = client.get("/invoices/", params)
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    field = next(iter(params))
    assert f'aria-describedby="id_{field}_error"' in html  # the field points at its error
    assert f'<span class="error" id="id_{field}_error" role="alert">' in html
    assert _listed_ids(html) == []


def test_a_forged_cursor_is_the_400_page(client, ledger):
    client.force_login(ledger[0].user)
    response = client.get("/invoices/", {"cursor": "%%%"})
    assert response.status_code == 400
    assert "invalid_cursor" in response.content.decode()


def test_the_list_reads_in_a_fixed_number_of_queries(
    client, monkeypatch, django_assert_max_num_queries
):
    # given 30 open invoices, and pages of 10
    monkeypatch.setattr(views, "PAGE_SIZE", 10)
    finance = _signed_in(client)
    InvoiceFactory.create_batch(30, org=finance.org, status=S.OPEN)
    first = client.get("/invoices/", {"status": "open"}).content.decode()
    next_url = re.search(r'<a href="(\?[^"]+)" rel="next">', first).group(1).replace("&amp;", "&")

    # when a filtered page after a cursor is read: then five queries (session, user, the
    # membership with its organization, the invoices, the funds notice), the navigation included
    with django_assert_max_num_queries(5):
        html = client.get("/invoices/" + next_url).content.decode()
    assert len(_listed_ids(html)) == 10
    assert 'href="/invoices/exports/"' in html


# --- one invoice -----------------------------------------------------------------------------


def test_it_shows_an_invoice_with_its_lines_files_and_finalise_button(client):
    finance = _signed_in(client)
    invoice, reservation = _draft_with_lines(finance.org)

    response = client.get(f"/invoices/{invoice.pk}/")

    assert response.status_code == 200
    html = response.content.decode()
    text = _text(html)
    assert f"Draft invoice {invoice.pk} draft" in text
    assert "Period 2026-11 (2026-11-01 to 2026-12-01, UTC, end excluded)" in text
    assert "Issued not yet (draft) Due — Currency USD" in text
    assert "Subtotal 6.30 Tax 0.00 Total 6.30 Amount due 6.30" in text
    r = reservation.pk
    assert f"Compute {r} Reservation {r}, November 1.500000 hour 3.600000 5.40" in text
    assert f"Adjustment {r} Reservation {r}, October 0.250000 hour 3.600000 0.90" in text
    assert f'<a href="/reservations/{r}/">{r}</a>' in html
    assert f'href="/invoices/{invoice.pk}/pdf/"' in html
    assert f'href="/invoices/{invoice.pk}/csv/"' in html
    assert f'action="/invoices/{invoice.pk}/finalize/"' in html
    assert "csrfmiddlewaretoken" in html
    assert "<caption>Lines</caption>" in html


def test_a_finalised_invoice_has_no_finalise_button(client):
    finance = _signed_in(client)
    invoice = InvoiceFactory(org=finance.org, status=S.OPEN, number="GM-2026-000003")
    html = client.get(f"/invoices/{invoice.pk}/").content.decode()
    assert 'id="number">GM-2026-000003<' in html
    assert 'id="finalize"' not in html


def test_it_finalises_a_draft_and_says_so(client, settings):
    # given finance looking at November's draft
    finance = _signed_in(client)
    invoice, _ = _draft_with_lines(finance.org)

    # when they press Finalise now on 5 December
    with time_machine.travel(FINALISED_AT, tick=False):
        response = client.post(f"/invoices/{invoice.pk}/finalize/", follow=True)

    # then they are back on the invoice, numbered, issued now, due in INVOICE_DUE_DAYS
    assert response.redirect_chain == [(f"/invoices/{invoice.pk}/", 302)]
    html = response.content.decode()
    assert "Invoice GM-2026-000001 finalised." in html
    assert 'id="number">GM-2026-000001<' in html and 'id="status">open<' in html
    assert 'id="issued">2026-12-05 10:30 UTC<' in html
    assert 'id="due">2026-12-19 10:30 UTC<' in html  # 14 days
    assert settings.INVOICE_DUE_DAYS == 14
    assert 'id="finalize"' not in html
    stored = Invoice.objects.get(pk=invoice.pk)
    assert (stored.status, stored.number, stored.issued_at, stored.total, stored.amount_due) == (
        S.OPEN, "GM-2026-000001", FINALISED_AT, Decimal("6.30"), Decimal("6.30"),
    )  # fmt: skip


def test_finalising_twice_is_the_409_page_and_changes_nothing(client):
    # given a draft finalised once
    finance = _signed_in(client)
    invoice, _ = _draft_with_lines(finance.org)
    with time_machine.travel(FINALISED_AT, tick=False):
        client.post(f"/invoices/{invoice.pk}/finalize/")
    before = _frozen(invoice)

    # when Finalise now is pressed again (a second tab)
    with time_machine.travel(FINALISED_AT + timedelta(hours=1), tick=False):
        response = client.post(f"/invoices/{invoice.pk}/finalize/")

    # then the error page says why, and neither the invoice nor the numbering moved
    assert response.status_code == 409
    html = response.content.decode()
    assert "Invoice GM-2026-000001 is open: only a draft can be finalised." in html
    assert "invoice_not_draft" in html
    assert _frozen(invoice) == before
    assert InvoiceNumberCounter.objects.get(year=2026).last == 1


def test_finalise_takes_only_a_post_with_its_csrf_token(client):
    finance = _signed_in(client)
    invoice, _ = _draft_with_lines(finance.org)
    assert client.get(f"/invoices/{invoice.pk}/finalize/").status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(finance.user)
    assert strict.post(f"/invoices/{invoice.pk}/finalize/").status_code == 403
    assert Invoice.objects.get(pk=invoice.pk).status == S.DRAFT


def test_another_organizations_invoice_is_not_found(client):
    # given another organization's draft
    invoice, _ = _draft_with_lines(_member().org)
    before = _frozen(invoice)
    # when finance of a third organization asks for it, in every way
    _signed_in(client)
    responses = [
        client.get(f"/invoices/{invoice.pk}/"),
        client.post(f"/invoices/{invoice.pk}/finalize/"),
        client.get(f"/invoices/{invoice.pk}/pdf/"),
        client.get(f"/invoices/{invoice.pk}/csv/"),
    ]
    # then it does not exist for them, and stays a draft
    assert [r.status_code for r in responses] == [404, 404, 404, 404]
    assert _frozen(invoice) == before


@pytest.mark.parametrize("role", [Role.BUYER, Role.PROVIDER])
def test_members_without_billing_are_refused_every_finance_page(client, role):
    # given a buyer (or provider) of an organization with a draft
    member = _signed_in(client, role)
    invoice, _ = _draft_with_lines(member.org)
    before = _frozen(invoice)
    # when they open each finance page or press Finalise now
    responses = [
        client.get("/invoices/"),
        client.get(f"/invoices/{invoice.pk}/"),
        client.post(f"/invoices/{invoice.pk}/finalize/"),
        client.get(f"/invoices/{invoice.pk}/pdf/"),
        client.get("/invoices/exports/"),
        client.get("/invoices/exports/invoices.csv", {"period": "2026-11"}),
    ]
    # then each is the 403 page naming their role, and nothing changed
    assert [r.status_code for r in responses] == [403] * 6
    assert all(
        f"The role &#x27;{role}&#x27; may not do this (billing)." in r.content.decode()
        for r in responses
    )
    assert _frozen(invoice) == before


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.FINANCE])
def test_owners_admins_and_finance_see_the_pages(client, role):
    member = _signed_in(client, role)
    invoice, _ = _draft_with_lines(member.org)
    assert client.get(f"/invoices/{invoice.pk}/").status_code == 200
    assert client.get("/invoices/exports/").status_code == 200


def test_it_downloads_the_pdf_from_the_page(client):
    finance = _signed_in(client)
    invoice, _ = _draft_with_lines(finance.org)
    response = client.get(f"/invoices/{invoice.pk}/pdf/")
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")


# --- the month's exports ---------------------------------------------------------------------


def test_the_exports_page_offers_last_month_by_default(client):
    with time_machine.travel(datetime(2027, 1, 10, tzinfo=UTC), tick=False):
        _signed_in(client)
        html = client.get("/invoices/exports/").content.decode()
    assert 'value="2026-12"' in html
    assert "December 2026 (UTC)" in html
    for name in ("invoices", "invoice-lines", "focus"):
        assert f'href="/invoices/exports/{name}.csv?period=2026-12">{name}-2026-12.csv<' in html


def test_the_exports_page_takes_a_month(client):
    _signed_in(client)
    html = client.get("/invoices/exports/", {"period": "2026-09"}).content.decode()
    assert 'href="/invoices/exports/focus.csv?period=2026-09"' in html


def test_the_exports_page_shows_a_malformed_month_as_a_form_error(client):
    _signed_in(client)
    response = client.get("/invoices/exports/", {"period": "2026-9"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "&#x27;2026-9&#x27; is not a month written YYYY-MM (e.g. 2026-11)." in html
    assert "/invoices/exports/invoices.csv" not in html


def test_it_exports_the_months_invoices_of_the_members_organization(client):
    # given November's draft of 6.30 and another organization's November invoice
    finance = _signed_in(client)
    invoice, reservation = _draft_with_lines(finance.org)
    InvoiceFactory(org=_member().org, period_start=NOVEMBER, status=S.OPEN)

    invoices = client.get("/invoices/exports/invoices.csv", {"period": "2026-11"})
    lines = client.get("/invoices/exports/invoice-lines.csv", {"period": "2026-11"})
    focus = client.get("/invoices/exports/focus.csv", {"period": "2026-11"})

    assert invoices["Content-Type"] == "text/csv; charset=utf-8"
    assert invoices["Content-Disposition"] == 'attachment; filename="invoices-2026-11.csv"'
    rows = list(csv.DictReader(io.StringIO(invoices.content.decode())))
    assert [(r["invoice_id"], r["status"], r["subtotal"], r["total"]) for r in rows] == [
        (str(invoice.pk), "draft", "6.30", "6.30")
    ]
    rows = list(csv.DictReader(io.StringIO(lines.content.decode())))
    assert [(r["kind"], r["reservation"], r["quantity"], r["amount"]) for r in rows] == [
        ("compute", str(reservation.pk), "1.500000", "5.40"),
        ("adjustment", str(reservation.pk), "0.250000", "0.90"),
    ]
    assert focus["Content-Disposition"] == 'attachment; filename="focus-2026-11.csv"'
    rows = list(csv.DictReader(io.StringIO(focus.content.decode())))
    assert [(r["ChargeCategory"], r["BilledCost"]) for r in rows] == [
        ("Usage", "5.40"),
        ("Adjustment", "0.90"),
    ]


@pytest.mark.parametrize("query", [{"period": "2026-13"}, {"period": "11/2026"}, {}])
def test_an_export_of_a_malformed_month_is_the_400_page(client, query):
    _signed_in(client)
    response = client.get("/invoices/exports/invoices.csv", query)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "invalid_period" in html
    assert "is not a month written YYYY-MM" in html or "period (YYYY-MM) is required" in html


def test_an_unknown_export_is_not_found(client):
    _signed_in(client)
    assert client.get("/invoices/exports/payments.csv", {"period": "2026-11"}).status_code == 404


# --- navigation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "shown"),
    [(Role.FINANCE, True), (Role.ADMIN, True), (Role.OWNER, True), (Role.BUYER, False)],
)
def test_the_finance_links_show_to_members_who_may_use_them(client, role, shown):
    _signed_in(client, role)
    header = client.get("/").content.decode().split("</header>")[0]
    assert ('href="/invoices/"' in header) is shown
    assert ('href="/invoices/exports/"' in header) is shown


def test_visitors_see_no_finance_links_and_are_sent_to_sign_in(client):
    header = client.get("/").content.decode().split("</header>")[0]
    assert 'href="/invoices/"' not in header
    response = client.get("/invoices/exports/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


# --- in a browser ----------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_finance_filters_finalises_a_draft_and_downloads_its_pdf(live_server, page):
    # given a finance member whose organization has an issued invoice and November's draft
    finance = _member()
    finance.user.email = "ledger@example.com"
    finance.user.save(update_fields=["email"])
    InvoiceFactory(org=finance.org, period_start=SEPTEMBER, status=S.OPEN, number="GM-2026-000099")
    draft, _ = _draft_with_lines(finance.org)

    # when they sign in and open the invoices from the navigation
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "ledger@example.com")
    page.fill("#id_password", "a-good-password-1")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    page.click("header >> text=Invoices")
    assert page.locator("#invoices tbody tr").count() == 2

    # and keep only the drafts
    page.select_option("#id_status", "draft")
    page.click("#invoice-filters button[type=submit]")
    page.wait_for_url("**/invoices/?*status=draft*")
    rows = page.locator("#invoices tbody tr")
    assert rows.count() == 1
    assert "6.30" in rows.nth(0).inner_text()

    # and open the draft and finalise it
    rows.nth(0).get_by_role("link", name="Draft").click()
    page.wait_for_url(f"{live_server.url}/invoices/{draft.pk}/")
    page.click("#finalize")

    # then it has the next number of this year and is open
    page.wait_for_selector("#number")
    number = page.inner_text("#number")
    year = Invoice.objects.get(pk=draft.pk).issued_at.year
    assert re.fullmatch(rf"GM-{year}-\d{{6}}", number)
    assert number == f"GM-{year}-000001"
    assert page.inner_text("#status") == "open"
    assert f"Invoice {number} finalised." in page.inner_text(".messages")
    assert page.locator("#finalize").count() == 0

    # and its PDF downloads as a PDF
    pdf_url = f"{live_server.url}/invoices/{draft.pk}/pdf/"
    with page.expect_response(pdf_url) as answered, page.expect_download() as downloaded:
        page.click("#pdf")
    assert answered.value.status == 200
    assert answered.value.headers["content-type"] == "application/pdf"
    assert downloaded.value.suggested_filename == f"invoice-{number}.pdf"
    with open(downloaded.value.path(), "rb") as pdf:
        assert pdf.read(5) == b"%PDF-"
