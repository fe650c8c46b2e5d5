"""Credit notes and voids: through the API, with what each posts to the ledger, what the
database refuses, and nothing changed by a refused request.

The invoice (conftest `two_providers`): 12.98 + 1.30 tax = 14.28, lines A 10.05, A -0.40
(an adjustment), B 3.33; its tax rate is 1.30 / 12.98."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from decimal import Decimal

import pypdf
import pytest
import time_machine
from django.db import IntegrityError, connection, transaction

from billing.models import (
    CreditNote,
    CreditNoteLine,
    Invoice,
    InvoiceNumberCounter,
    InvoiceStatus,
    JournalEntry,
)
from billing.selectors import org_prepaid_credit, org_receivable, provider_payable
from billing.services.credit_notes import CreditRequest, credit_note_issue, invoice_void
from billing.services.finalisation import invoice_finalize
from billing.services.invoices import reservations_record_billed
from billing.tests.conftest import _line
from marketplace.models import Reservation
from tests.factories import make_org_with_key

pytestmark = pytest.mark.django_db

D = Decimal
NOW = datetime(2026, 11, 3, 9, 30, tzinfo=UTC)


def _url(invoice_id: int, action: str = "credit-notes") -> str:
    return f"/api/v1/invoices/{invoice_id}/{action}/"


def _credit(api_client, t, body: dict, *, headers=None, invoice_id=None):
    with time_machine.travel(NOW, tick=False):
        return api_client.post(
            _url(invoice_id or t.invoice.pk), body, format="json", **(headers or t.finance.headers)
        )


def _state(t) -> tuple:
    """What a refused request must leave as it was."""
    invoice = Invoice.objects.get(pk=t.invoice.pk)
    return (
        invoice.status,
        invoice.amount_due,
        CreditNote.objects.count(),
        JournalEntry.objects.count(),
        list(InvoiceNumberCounter.objects.values_list("series", "last")),
        org_receivable(org=t.finance.org, currency="USD"),
    )


def _entry_lines(source_key: str) -> set[tuple]:
    entry = JournalEntry.objects.get(source_key=source_key)
    return set(entry.lines.values_list("account", "org_id", "provider_id", "debit", "credit"))


def test_it_credits_a_line_with_tax_at_the_invoice_rate(api_client, two_providers):
    t = two_providers

    response = _credit(api_client, t, {"reason": "GPU was slow", "lines": [
        {"line": t.line_a.pk, "amount": "5.00"}
    ]})  # fmt: skip

    # then tax 5.00 x 1.30 / 12.98 = 0.50077 -> 0.50, total 5.50
    assert response.status_code == 201, response.json()
    body = response.json()
    note = CreditNote.objects.get()
    assert body == {
        "id": note.pk,
        "number": "CN-2026-000001",
        "invoice": t.invoice.pk,
        "invoice_number": "GM-2026-000001",
        "currency": "USD",
        "reason": "GPU was slow",
        "issued_at": "2026-11-03T09:30:00Z",
        "subtotal": "5.00",
        "tax": "0.50",
        "total": "5.50",
        "lines": [
            {
                "id": note.lines.get().pk,
                "invoice_line": t.line_a.pk,
                "reservation": t.reservation_a.pk,
                "description": f"Credit: {t.line_a.description}",
                "amount": "5.00",
            }
        ],
    }
    # the open invoice owes 14.28 - 5.50
    invoice = api_client.get(_url(t.invoice.pk, "")[:-1], **t.finance.headers).json()
    assert (invoice["status"], invoice["amount_due"], invoice["amount_credited"]) == (
        "open", "8.78", "5.50",
    )  # fmt: skip
    assert invoice["credit_notes"] == [{"id": note.pk, "number": "CN-2026-000001", "total": "5.50"}]
    # and the ledger reverses the invoice's split for A's 5.00: fee 0.50, A gives back 4.50
    assert _entry_lines(f"credit_note:{note.pk}") == {
        ("accounts_receivable", t.finance.org.pk, None, D("0.00"), D("5.50")),
        ("tax_payable", None, None, D("0.50"), D("0.00")),
        ("provider_payable", None, t.provider_a.pk, D("4.50"), D("0.00")),
        ("platform_revenue", None, None, D("0.50"), D("0.00")),
    }
    assert org_receivable(org=t.finance.org, currency="USD") == D("8.78")
    assert provider_payable(provider=t.provider_a, currency="USD") == D("8.68") - D("4.50")


def test_an_amount_is_spread_over_the_lines_in_proportion_to_what_each_has_left(
    api_client, two_providers
):
    t = two_providers

    response = _credit(api_client, t, {"reason": "goodwill", "amount": "6.69"})

    # then over A 10.05 and B 3.33 (13.38; the adjustment has nothing to credit):
    # A 6.69 x 10.05 / 13.38 = 5.025 -> 5.03, B the rest 1.66; tax 6.69 x 1.30 / 12.98 -> 0.67
    assert response.status_code == 201, response.json()
    body = response.json()
    assert [(line["invoice_line"], line["amount"]) for line in body["lines"]] == [
        (t.line_a.pk, "5.03"),
        (t.line_b.pk, "1.66"),
    ]
    assert (body["subtotal"], body["tax"], body["total"]) == ("6.69", "0.67", "7.36")
    assert Invoice.objects.get(pk=t.invoice.pk).amount_due == D("14.28") - D("7.36")


def test_credit_notes_are_numbered_without_a_gap_in_their_own_series(api_client, two_providers):
    t = two_providers
    first = _credit(api_client, t, {"reason": "a", "amount": "1.00"})
    refused = _credit(api_client, t, {"reason": "b", "lines": [
        {"line": t.line_b.pk, "amount": "9.00"}
    ]})  # fmt: skip
    second = _credit(api_client, t, {"reason": "c", "amount": "1.00"})

    assert refused.status_code == 400
    assert [first.json()["number"], second.json()["number"]] == ["CN-2026-000001", "CN-2026-000002"]
    # the invoice series is its own
    assert InvoiceNumberCounter.objects.filter(series="GM").count() == 0


def test_a_line_cannot_be_credited_more_than_it_has_left(api_client, two_providers):
    t = two_providers
    assert _credit(api_client, t, {"reason": "a", "lines": [
        {"line": t.line_b.pk, "amount": "3.00"}
    ]}).status_code == 201  # fmt: skip
    before = _state(t)

    response = _credit(api_client, t, {"reason": "b", "lines": [
        {"line": t.line_b.pk, "amount": "0.34"}
    ]})  # fmt: skip

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "credit_exceeds_line"
    assert response.json()["error"]["left"] == "0.33"
    assert _state(t) == before


def test_the_credit_notes_of_an_invoice_cannot_exceed_its_total(api_client, two_providers):
    # given every positive line credited in full: 13.38 + tax 1.34 = 14.72 > 14.28 (the
    # adjustment had taken 0.40 back)
    t = two_providers
    before = _state(t)

    response = _credit(api_client, t, {"reason": "all", "lines": [
        {"line": t.line_a.pk, "amount": "10.05"}, {"line": t.line_b.pk, "amount": "3.33"},
    ]})  # fmt: skip

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "credit_exceeds_invoice"
    assert _state(t) == before


def test_crediting_what_is_left_to_pay_settles_an_open_invoice(api_client, two_providers):
    # given 12.98 credited (12.98 + tax 1.30 = the total): A 9.65 and B 3.33
    t = two_providers
    response = _credit(api_client, t, {"reason": "all", "lines": [
        {"line": t.line_a.pk, "amount": "9.65"}, {"line": t.line_b.pk, "amount": "3.33"},
    ]})  # fmt: skip

    assert response.json()["total"] == "14.28"
    invoice = Invoice.objects.get(pk=t.invoice.pk)
    assert (invoice.status, invoice.amount_due) == (InvoiceStatus.PAID, D("0.00"))
    assert org_receivable(org=t.finance.org, currency="USD") == 0
    # then nothing more can be credited
    again = _credit(api_client, t, {"reason": "more", "amount": "0.01"})
    assert again.status_code == 409, again.json()


def test_a_paid_invoice_credited_gives_back_prepaid_credit_when_no_card_paid_it(
    api_client, two_providers
):
    t = two_providers
    Invoice.objects.filter(pk=t.invoice.pk).update(status=InvoiceStatus.PAID, amount_due=0)

    assert _credit(api_client, t, {"reason": "x", "amount": "1.00"}).status_code == 201

    invoice = Invoice.objects.get(pk=t.invoice.pk)
    assert (invoice.status, invoice.amount_due) == (InvoiceStatus.PAID, D("0.00"))
    # 1.00 + 10 % tax owed back, kept as prepaid credit (no card charge to refund); no
    # payment was posted here, so the receivable stays the invoice's 14.28
    assert org_prepaid_credit(org=t.finance.org, currency="USD") == D("1.10")
    assert org_receivable(org=t.finance.org, currency="USD") == D("14.28")


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (InvoiceStatus.DRAFT, "invoice_not_finalised"),
        (InvoiceStatus.VOID, "invoice_not_creditable"),
    ],
)
def test_only_an_open_or_paid_invoice_can_be_credited(api_client, status, code):
    finance = make_org_with_key(role="finance")
    invoice = Invoice.objects.create(
        org=finance.org, period_start=datetime(2026, 9, 1, tzinfo=UTC),
        period_end=datetime(2026, 10, 1, tzinfo=UTC), status=status, number=None,
    )  # fmt: skip

    response = api_client.post(
        _url(invoice.pk), {"reason": "x", "amount": "1.00"}, format="json", **finance.headers
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == code
    assert not CreditNote.objects.exists()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"reason": "x"}, "validation_error"),
        (
            {"reason": "x", "amount": "1.00", "lines": [{"line": 1, "amount": "1.00"}]},
            "validation_error",
        ),
        ({"amount": "1.00"}, "validation_error"),
        ({"reason": "x", "amount": "0.00"}, "validation_error"),
        ({"reason": "x", "amount": "-1.00"}, "validation_error"),
        ({"reason": "x", "amount": "1.001"}, "validation_error"),
        ({"reason": "x", "amount": "lots"}, "validation_error"),
        ({"reason": "x", "lines": []}, "validation_error"),
        ({"reason": "x", "lines": [{"line": 999999999, "amount": "1.00"}]}, "unknown_invoice_line"),
        ({"reason": "x", "lines": [{"line": "a", "amount": "1.00"}]}, "validation_error"),
        ({"reason": "x", "amount": "1.00", "colour": "red"}, "unknown_field"),
        ({"reason": "x", "lines": [{"line": 1, "amount": "1.00", "tax": "0"}]}, "unknown_field"),
        ({"reason": "x", "amount": "99.00"}, "credit_exceeds_invoice"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(api_client, two_providers, body, code):
    t = two_providers
    before = _state(t)

    response = _credit(api_client, t, body)

    assert response.status_code == (409 if code == "credit_exceeds_invoice" else 400)
    assert response.json()["error"]["code"] == code
    assert _state(t) == before


def test_a_line_named_twice_or_of_another_invoice_is_refused(api_client, two_providers):
    t = two_providers
    other = make_org_with_key(role="finance")
    before = _state(t)
    twice = [{"line": t.line_b.pk, "amount": "1.00"}, {"line": t.line_b.pk, "amount": "1.00"}]
    assert _credit(api_client, t, {"reason": "x", "lines": twice}).json()["error"]["code"] == (
        "duplicate_line"
    )
    # another organization's invoice is not found, whatever it names
    response = _credit(api_client, t, {"reason": "x", "amount": "1.00"}, headers=other.headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert _state(t) == before


def test_a_buyer_cannot_credit_or_void(api_client, two_providers):
    t = two_providers
    buyer = make_org_with_key(role="buyer", org=t.finance.org)
    before = _state(t)
    for action, body in (("credit-notes", {"reason": "x", "amount": "1.00"}), ("void", {})):
        response = api_client.post(_url(t.invoice.pk, action), body, format="json", **buyer.headers)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"
    assert api_client.get("/api/v1/credit-notes/", **buyer.headers).status_code == 403
    assert _state(t) == before


def test_credit_notes_are_listed_read_and_printed_for_their_organization_only(
    api_client, two_providers
):
    t = two_providers
    ids = [_credit(api_client, t, {"reason": f"r{i}", "amount": "1.00"}).json()["id"]
           for i in range(3)]  # fmt: skip
    other = make_org_with_key(role="finance")

    # the list pages newest first, with cursors to the end
    first = api_client.get("/api/v1/credit-notes/", {"limit": 2}, **t.finance.headers).json()
    rest = api_client.get(
        "/api/v1/credit-notes/", {"cursor": first["next"]}, **t.finance.headers
    ).json()
    assert [n["id"] for n in first["results"] + rest["results"]] == ids[::-1]
    assert rest["next"] is None
    assert api_client.get("/api/v1/credit-notes/", **other.headers).json()["results"] == []
    bad = api_client.get("/api/v1/credit-notes/", {"cursor": "%%%"}, **t.finance.headers)
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "invalid_cursor")

    # one, as JSON and PDF
    detail = api_client.get(f"/api/v1/credit-notes/{ids[0]}/", **t.finance.headers)
    assert (detail.status_code, detail.json()["number"]) == (200, "CN-2026-000001")
    pdf = api_client.get(f"/api/v1/credit-notes/{ids[0]}/pdf/", **t.finance.headers)
    assert pdf["Content-Type"] == "application/pdf"
    assert 'filename="credit-note-CN-2026-000001.pdf"' in pdf["Content-Disposition"]
    text = pypdf.PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    for expected in ("Credit note CN-2026-000001", "GM-2026-000001", "r0", "1.10 USD"):
        assert expected in text

    # another organization's: 404
    for url in (f"/api/v1/credit-notes/{ids[0]}/", f"/api/v1/credit-notes/{ids[0]}/pdf/"):
        response = api_client.get(url, **other.headers)
        assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")


def test_a_credit_note_and_its_lines_cannot_change(two_providers):
    t = two_providers
    note = credit_note_issue(
        invoice_id=t.invoice.pk, request=CreditRequest(reason="x", amount=D("1.00"))
    )
    line = note.lines.first()
    for attempt in (
        lambda: CreditNote.objects.filter(pk=note.pk).update(total=D("0.01")),
        lambda: CreditNoteLine.objects.filter(pk=line.pk).update(amount=D("0.01")),
        lambda: CreditNoteLine.objects.filter(pk=line.pk).delete(),
        lambda: _sql("DELETE FROM billing_creditnote WHERE id = %s", note.pk),
        # a line added later: its lines no longer add up to its subtotal (checked at commit)
        lambda: (
            CreditNoteLine.objects.create(
                credit_note=note, invoice_line=t.line_b, description="x", amount=D("1.00")
            ),
            _sql("SET CONSTRAINTS ALL IMMEDIATE"),
        ),
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            attempt()
    assert CreditNote.objects.get().total == D("1.10")


def _sql(statement: str, *params) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


# --- void -------------------------------------------------------------------------------


def test_voiding_reverses_the_invoice_and_its_lines_stop_counting_in_cost(
    api_client, two_providers
):
    t = two_providers
    reservations_record_billed(reservation_ids=[t.reservation_a.pk, t.reservation_b.pk])
    assert Reservation.objects.get(pk=t.reservation_a.pk).cost == D("9.65")

    with time_machine.travel(NOW, tick=False):
        response = api_client.post(_url(t.invoice.pk, "void"), **t.finance.headers)

    assert response.status_code == 200, response.json()
    assert (response.json()["status"], response.json()["amount_due"]) == ("void", "0.00")
    invoice_entry = _entry_lines(f"invoice:{t.invoice.pk}")
    void_entry = _entry_lines(f"void:{t.invoice.pk}")
    assert void_entry == {(a, o, p, credit, debit) for a, o, p, debit, credit in invoice_entry}
    assert JournalEntry.objects.get(source_key=f"void:{t.invoice.pk}").posted_at == NOW
    assert org_receivable(org=t.finance.org, currency="USD") == 0
    assert provider_payable(provider=t.provider_a, currency="USD") == 0
    assert [Reservation.objects.get(pk=r.pk).cost for r in (t.reservation_a, t.reservation_b)] == [
        0, 0,
    ]  # fmt: skip


@pytest.mark.parametrize("case", ["credited", "paid", "part paid", "void", "draft"])
def test_only_an_open_invoice_with_nothing_paid_or_credited_can_be_voided(
    api_client, two_providers, case
):
    t = two_providers
    if case == "credited":
        credit_note_issue(
            invoice_id=t.invoice.pk, request=CreditRequest(reason="x", amount=D("1.00"))
        )
    changes = {
        "paid": {"status": InvoiceStatus.PAID, "amount_due": 0},
        "part paid": {"amount_due": D("4.28")},
        "void": {"status": InvoiceStatus.VOID, "amount_due": 0},
    }.get(case)
    if changes:
        Invoice.objects.filter(pk=t.invoice.pk).update(**changes)
    invoice_id = t.invoice.pk
    if case == "draft":
        invoice_id = Invoice.objects.create(
            org=t.finance.org, period_start=NOW.replace(day=1, hour=0, minute=0),
            period_end=datetime(2026, 12, 1, tzinfo=UTC),
        ).pk  # fmt: skip
    before = _state(t)

    response = api_client.post(_url(invoice_id, "void"), **t.finance.headers)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invoice_not_voidable"
    assert _state(t) == before
    assert not JournalEntry.objects.filter(kind="void").exists()


def test_another_organizations_invoice_cannot_be_voided(api_client, two_providers):
    t = two_providers
    other = make_org_with_key(role="owner")
    before = _state(t)

    response = api_client.post(_url(t.invoice.pk, "void"), **other.headers)

    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")
    assert _state(t) == before


@pytest.mark.django_db(transaction=True)
def test_credit_notes_voids_and_their_entries_pass_the_checks_made_at_commit(two_providers):
    # given two invoices, each finalised in a committed transaction (the fixture's is one)
    t = two_providers
    # when one is credited twice and another voided, each committing
    for amount in ("1.00", "2.00"):
        credit_note_issue(
            invoice_id=t.invoice.pk, request=CreditRequest(reason="x", amount=D(amount))
        )
    second = Invoice.objects.create(
        org=t.finance.org, period_start=datetime(2026, 10, 1, tzinfo=UTC),
        period_end=datetime(2026, 11, 1, tzinfo=UTC),
    )  # fmt: skip
    _line(second, t.reservation_b, "compute", second.period_start, 1000, "1.00")
    invoice_finalize(invoice_id=second.pk, now=datetime(2027, 1, 2, tzinfo=UTC))
    invoice_void(invoice_id=second.pk)

    # then every deferred check passed and all of it is there
    assert list(CreditNote.objects.order_by("id").values_list("number", "total")) == [
        ("CN-2026-000001", D("1.10")), ("CN-2026-000002", D("2.20")),
    ]  # fmt: skip
    assert org_receivable(org=t.finance.org, currency="USD") == D("14.28") - D("3.30")
