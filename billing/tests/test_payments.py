"""Payments against localstripe (the Stripe that `make test` starts on 127.0.0.1): the
payment method, paying an invoice, dunning to uncollectible and back, top-ups, refunds for
credit notes, Stripe unreachable. Stripe's test cards: pm_card_visa (4242) is charged;
pm_card_visa_chargeDeclined is refused when it is attached; pm_card_chargeCustomerFail
attaches and then every charge of it is declined.

The invoice: September, one line of 10.00 and 1.00 of tax, total 11.00 USD."""

from __future__ import annotations

import socket
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import (
    AuditRecord,
    ChargeStatus,
    Invoice,
    InvoiceStatus,
    JournalEntry,
    PaymentAccount,
    PaymentAttempt,
    Refund,
    TopUp,
)
from billing.selectors import org_prepaid_credit, org_receivable
from billing.services.ledger import ledger_post_top_up
from billing.services.reconciliation import billing_reconcile
from billing.tasks import collect_invoice, refund_credit_note
from billing.tests.payouts_fixtures import SEPTEMBER, issued_invoice, reservation_of
from tests.factories import OfferFactory, ProviderFactory, make_org_with_key

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def finance():
    return make_org_with_key(role="finance")


@pytest.fixture
def invoice(finance) -> Invoice:
    provider = ProviderFactory(slug="cloud-p", name="Cloud P")
    return issued_invoice(
        finance.org, SEPTEMBER, "GM-2026-000007", [(reservation_of(finance.org, provider), "10.00")],
        tax="1.00",
    )  # fmt: skip


def money_mismatches():
    """What reconciliation finds, but usage: these invoices' lines were made without
    metered usage."""
    return [found for found in billing_reconcile() if found.check != "usage"]


def add_card(client, keyed, payment_method="pm_card_visa"):
    return client.post(
        "/api/v1/billing/payment-method/",
        {"payment_method": payment_method},
        format="json",
        **keyed.headers,
    )


def pay(client, keyed, invoice):
    return client.post(f"/api/v1/invoices/{invoice.pk}/pay/", **keyed.headers)


def top_up(client, keyed, amount):
    return client.post(
        "/api/v1/billing/top-ups/", {"amount": amount}, format="json", **keyed.headers
    )


def balance(client, keyed) -> dict:
    return client.get("/api/v1/billing/balance/", **keyed.headers).json()


def test_a_card_is_added_to_the_organizations_customer_and_shown(api_client, finance):
    response = add_card(api_client, finance)

    assert response.status_code == 200, response.json()
    assert response.json()["brand"] == "visa"
    assert response.json()["last4"] == "4242"
    assert response.json()["payment_method"].startswith("pm_")
    shown = api_client.get("/api/v1/billing/payment-method/", **finance.headers).json()
    assert shown["last4"] == "4242"
    record = AuditRecord.objects.get(action="payment_method_set")
    assert (record.org_id, record.api_key_id) == (finance.org.pk, finance.key.pk)


def test_a_card_stripe_refuses_is_not_added(api_client, finance):
    response = add_card(api_client, finance, "pm_card_visa_chargeDeclined")

    assert response.status_code == 402
    assert response.json()["error"]["code"] == "card_declined"
    shown = api_client.get("/api/v1/billing/payment-method/", **finance.headers).json()
    assert shown["payment_method"] == ""


def test_a_buyer_key_cannot_set_the_payment_method(api_client):
    buyer = make_org_with_key(role="buyer")

    response = add_card(api_client, buyer)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert not PaymentAccount.objects.exists()
    assert not AuditRecord.objects.filter(action="payment_method_set").exists()


def test_paying_an_open_invoice_charges_the_card_and_marks_it_paid(api_client, finance, invoice):
    add_card(api_client, finance)

    response = pay(api_client, finance, invoice)

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["status"], body["amount_due"], body["collection_error"]) == ("paid", "0.00", "")
    assert body["paid_at"] is not None
    attempt = PaymentAttempt.objects.get(invoice=invoice)
    assert attempt.idempotency_key == "invoice-GM-2026-000007-attempt-1"
    assert (attempt.status, attempt.amount) == (ChargeStatus.SUCCEEDED, D("11.00"))
    assert attempt.payment_intent.startswith("pi_")
    payment = JournalEntry.objects.get(kind="payment")
    assert sum(line.debit for line in payment.lines.all()) == D("11.00")
    assert org_receivable(org=finance.org, currency="USD") == 0
    assert (
        AuditRecord.objects.filter(action="invoice_paid", subject=f"invoice:{invoice.pk}").count()
        == 1
    )


def test_paying_a_paid_invoice_charges_nothing(api_client, finance, invoice):
    add_card(api_client, finance)
    pay(api_client, finance, invoice)

    again = pay(api_client, finance, invoice)

    assert again.status_code == 200
    assert again.json()["status"] == "paid"
    assert PaymentAttempt.objects.filter(invoice=invoice).count() == 1
    assert JournalEntry.objects.filter(kind="payment").count() == 1


def test_paying_needs_a_payment_method_and_a_finalised_invoice(api_client, finance, invoice):
    assert pay(api_client, finance, invoice).json()["error"]["code"] == "payment_method_required"
    add_card(api_client, finance)
    draft = Invoice.objects.create(
        org=finance.org, period_start=invoice.period_end, period_end=invoice.period_end
    )

    response = pay(api_client, finance, draft)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invoice_not_payable"


def test_another_organizations_invoice_is_not_found(api_client, invoice):
    other = make_org_with_key(role="finance")
    add_card(api_client, other)

    assert pay(api_client, other, invoice).status_code == 404
    assert not PaymentAttempt.objects.exists()


def test_a_declined_charge_leaves_the_invoice_open_with_the_error_and_a_retry(
    api_client, finance, invoice, settings
):
    settings.BILLING_RETRY_SCHEDULE = [3600, 7200]
    add_card(api_client, finance, "pm_card_chargeCustomerFail")
    before = timezone.now()

    response = pay(api_client, finance, invoice)

    assert response.status_code == 402
    assert response.json()["error"]["code"] == "card_declined"
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_due) == (InvoiceStatus.OPEN, D("11.00"))
    assert "declined" in invoice.collection_error
    retry_in = invoice.next_collection_at - before
    assert timedelta(seconds=3600) <= retry_in < timedelta(seconds=3660)
    assert PaymentAttempt.objects.get(invoice=invoice).status == ChargeStatus.FAILED
    assert not JournalEntry.objects.filter(kind="payment").exists()
    assert AuditRecord.objects.filter(action="payment_failed").count() == 1


def test_dunning_ends_uncollectible_which_blocks_reserving_until_paid(
    api_client, finance, invoice, settings
):
    settings.BILLING_RETRY_SCHEDULE = [60]
    owner = make_org_with_key(role="owner", org=finance.org)
    offer = OfferFactory(price_per_hour=D("1.000000"))
    add_card(api_client, finance, "pm_card_chargeCustomerFail")
    # given the first try and its one retry declined
    assert pay(api_client, finance, invoice).status_code == 402
    collect_invoice(invoice.pk)

    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.UNCOLLECTIBLE
    assert invoice.next_collection_at is None
    assert [a.number for a in PaymentAttempt.objects.filter(invoice=invoice)] == [1, 2]
    blocked = api_client.post(
        "/api/v1/reservations/", {"offer": offer.pk, "hours": "1"}, format="json", **owner.headers
    )
    assert blocked.status_code == 402
    assert blocked.json()["error"]["code"] == "account_past_due"

    # when the buyer adds a card that works and pays
    add_card(api_client, finance, "pm_card_visa")
    paid = pay(api_client, finance, invoice)

    # then the invoice is paid and reserving works again
    assert paid.json()["status"] == "paid"
    allowed = api_client.post(
        "/api/v1/reservations/", {"offer": offer.pk, "hours": "1"}, format="json", **owner.headers
    )
    assert allowed.status_code == 201, allowed.json()


def test_finalising_collects_from_the_payment_method(api_client, finance, invoice):
    """The task queued at finalisation, run here by its body (the worker test runs it in a
    real worker)."""
    add_card(api_client, finance)
    draft = Invoice.objects.create(
        org=finance.org,
        period_start=invoice.period_end,
        period_end=invoice.period_end + timedelta(days=31),
    )
    from billing.tests.payouts_fixtures import line

    line(draft, reservation_of(finance.org, ProviderFactory(slug="cloud-q")), "4.00")
    Invoice.objects.filter(pk=draft.pk).update(subtotal=D("4.00"))

    finalised = api_client.post(f"/api/v1/invoices/{draft.pk}/finalize/", **finance.headers)

    assert finalised.json()["status"] == "open"
    assert finalised.json()["next_collection_at"] is not None
    assert collect_invoice(draft.pk) == "succeeded"
    draft.refresh_from_db()
    assert (draft.status, draft.amount_due) == (InvoiceStatus.PAID, D("0.00"))


def test_a_top_up_is_credit_once_stripe_confirms_it(api_client, finance, settings):
    settings.ORG_CREDIT_LIMIT = D(0)
    add_card(api_client, finance)
    assert balance(api_client, finance)["available"] == "0.00"

    response = top_up(api_client, finance, "50.00")

    assert response.status_code == 201, response.json()
    assert (response.json()["status"], response.json()["amount"]) == ("succeeded", "50.00")
    assert balance(api_client, finance)["prepaid"] == "50.00"
    assert balance(api_client, finance)["available"] == "50.00"
    listed = api_client.get("/api/v1/billing/top-ups/", **finance.headers).json()
    assert [row["amount"] for row in listed["results"]] == ["50.00"]
    assert AuditRecord.objects.filter(action="top_up_credited").count() == 1


def test_a_declined_top_up_gives_no_credit(api_client, finance, settings):
    settings.ORG_CREDIT_LIMIT = D(0)
    add_card(api_client, finance, "pm_card_chargeCustomerFail")

    response = top_up(api_client, finance, "50.00")

    assert response.status_code == 402
    assert response.json()["error"]["code"] == "card_declined"
    assert TopUp.objects.get().status == ChargeStatus.FAILED
    assert balance(api_client, finance)["prepaid"] == "0.00"


def test_a_top_up_below_one_unit_is_refused(api_client, finance):
    add_card(api_client, finance)

    assert top_up(api_client, finance, "0.50").status_code == 400
    assert top_up(api_client, finance, "abc").status_code == 400
    assert not TopUp.objects.exists()


def test_a_credit_note_on_a_card_paid_invoice_is_refunded_to_the_card(api_client, finance, invoice):
    add_card(api_client, finance)
    pay(api_client, finance, invoice)

    # 2.00 + 10 % tax credited
    note = api_client.post(
        f"/api/v1/invoices/{invoice.pk}/credit-notes/",
        {"reason": "outage", "amount": "2.00"},
        format="json",
        **finance.headers,
    )
    assert note.status_code == 201, note.json()
    refund = Refund.objects.get()
    assert (refund.amount, refund.status) == (D("2.20"), ChargeStatus.PENDING)
    assert refund.idempotency_key == f"credit-note-{note.json()['number']}"

    assert refund_credit_note(refund.pk) == "succeeded"

    refund.refresh_from_db()
    assert refund.stripe_refund.startswith("re_")
    assert JournalEntry.objects.filter(kind="refund").count() == 1
    # the card got back what the note took: nothing is owed either way
    assert org_receivable(org=finance.org, currency="USD") == 0
    assert org_prepaid_credit(org=finance.org, currency="USD") == 0
    assert AuditRecord.objects.filter(action="refund").count() == 1
    assert money_mismatches() == []


def test_a_credit_note_on_an_invoice_paid_by_prepaid_credit_returns_the_credit(api_client, finance):
    ledger_post_top_up(org=finance.org, amount=D("30.00"), currency="USD", source_id="t-1")
    draft = Invoice.objects.create(
        org=finance.org, period_start=SEPTEMBER, period_end=SEPTEMBER + timedelta(days=30)
    )
    from billing.tests.payouts_fixtures import line

    line(draft, reservation_of(finance.org, ProviderFactory(slug="cloud-r")), "10.00")
    Invoice.objects.filter(pk=draft.pk).update(subtotal=D("10.00"))
    api_client.post(f"/api/v1/invoices/{draft.pk}/finalize/", **finance.headers)
    draft.refresh_from_db()
    assert draft.status == InvoiceStatus.PAID  # 10.00, no tax (the test seller is in the US)
    assert org_prepaid_credit(org=finance.org, currency="USD") == D("20.00")

    api_client.post(
        f"/api/v1/invoices/{draft.pk}/credit-notes/",
        {"reason": "outage", "amount": "4.00"},
        format="json",
        **finance.headers,
    )

    assert not Refund.objects.exists()
    assert org_prepaid_credit(org=finance.org, currency="USD") == D("24.00")
    assert money_mismatches() == []


def test_reconciliation_reports_a_confirmed_charge_with_no_entry(api_client, finance, invoice):
    add_card(api_client, finance)
    pay(api_client, finance, invoice)
    assert money_mismatches() == []
    attempt = PaymentAttempt.objects.get()
    # a second charge recorded as succeeded by a bug that forgot its entry
    PaymentAttempt.objects.create(
        invoice=invoice, number=2, idempotency_key="invoice-GM-2026-000007-attempt-2",
        amount=D("11.00"), currency="USD", payment_method=attempt.payment_method,
        status=ChargeStatus.SUCCEEDED,
    )  # fmt: skip

    found = money_mismatches()

    assert [(m.check, m.subject, m.expected, m.found) for m in found] == [
        ("money_moves", "payment:invoice-GM-2026-000007-attempt-2", [D("11.00")], [])
    ]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_stripe_unreachable_keeps_the_invoice_collectable_and_retries_with_the_same_key(
    api_client, finance, invoice, settings
):
    add_card(api_client, finance)
    working = settings.STRIPE_API_BASE
    settings.STRIPE_API_BASE = f"http://127.0.0.1:{_closed_port()}"

    response = pay(api_client, finance, invoice)

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "stripe_unavailable"
    assert response["Retry-After"]
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.OPEN
    assert invoice.collection_error
    assert invoice.next_collection_at > timezone.now()
    attempt = PaymentAttempt.objects.get(invoice=invoice)
    assert attempt.status == ChargeStatus.PENDING

    # when Stripe is back and the beat's retry runs
    settings.STRIPE_API_BASE = working
    assert collect_invoice(invoice.pk) == "succeeded"

    # then the same attempt (the same key) paid it
    assert list(PaymentAttempt.objects.values_list("idempotency_key", "status")) == [
        ("invoice-GM-2026-000007-attempt-1", "succeeded")
    ]
    invoice.refresh_from_db()
    assert (invoice.status, invoice.collection_error) == (InvoiceStatus.PAID, "")
