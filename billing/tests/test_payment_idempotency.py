"""A retry never charges twice: every charge, top-up and refund carries an idempotency key
derived from our own row, and a retry after a timeout or a Stripe 500 sends the same key.

localstripe ignores idempotency keys, so these run against the recording Stripe
(tests/stripe_fake.py), which remembers what each key made, as Stripe does, and shows what
was sent: the key, the amount in minor units, the currency, the payment method."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.models import (
    ChargeStatus,
    CreditNote,
    Invoice,
    InvoiceStatus,
    JournalEntry,
    PaymentAccount,
    PaymentAttempt,
    Refund,
    TopUp,
)
from billing.services.credit_notes import CreditRequest, credit_note_issue
from billing.services.payments import invoice_collect, refund_send, top_up_charge
from billing.tests.payouts_fixtures import SEPTEMBER, issued_invoice, reservation_of
from tests.factories import ProviderFactory, make_org_with_key

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def invoice(fake_stripe, settings) -> Invoice:
    """GM-2026-000011, 10.00 + 1.00 tax due, the organization's card pm_card_1."""
    settings.STRIPE_TIMEOUT_SECONDS = 1
    settings.BILLING_RETRY_SCHEDULE = [60, 120]
    finance = make_org_with_key(role="finance")
    PaymentAccount.objects.create(
        org=finance.org, stripe_customer="cus_fake1", payment_method="pm_card_1"
    )
    return issued_invoice(
        finance.org, SEPTEMBER, "GM-2026-000011",
        [(reservation_of(finance.org, ProviderFactory(slug="cloud-i")), "10.00")], tax="1.00",
    )  # fmt: skip


def sent(fake_stripe, path="/v1/payment_intents") -> list[tuple]:
    return [
        (r.idempotency_key, r.form["amount"], r.form.get("currency"), r.form.get("payment_method"))
        for r in fake_stripe.requests
        if r.path == path
    ]


def test_a_timed_out_charge_is_sent_again_with_the_same_key_and_charged_once(fake_stripe, invoice):
    # given Stripe makes the PaymentIntent but its answer arrives after our timeout
    fake_stripe.script = ["stall"]
    fake_stripe.stall_seconds = 5
    first = invoice_collect(invoice_id=invoice.pk)
    assert first.status == ChargeStatus.PENDING
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.OPEN
    assert invoice.next_collection_at is not None  # the beat sends it again
    fake_stripe.release()

    # when the retry runs
    second = invoice_collect(invoice_id=invoice.pk)

    # then it sent the same key and got the first PaymentIntent back: one charge
    key = "invoice-GM-2026-000011-attempt-1"
    assert sent(fake_stripe) == [(key, "1100", "usd", "pm_card_1")] * 2
    assert len(fake_stripe.objects("/v1/payment_intents")) == 1
    assert (second.pk, second.status, second.payment_intent) == (
        first.pk, ChargeStatus.SUCCEEDED, "pi_fake000001",
    )  # fmt: skip
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert JournalEntry.objects.filter(kind="payment").count() == 1


def test_a_stripe_500_is_recorded_and_retried_with_the_same_key(fake_stripe, invoice):
    fake_stripe.script = ["500"]

    failed = invoice_collect(invoice_id=invoice.pk)

    assert failed.status == ChargeStatus.PENDING
    invoice.refresh_from_db()
    assert "try again" in invoice.collection_error
    assert invoice_collect(invoice_id=invoice.pk).status == ChargeStatus.SUCCEEDED
    assert [k for k, *_ in sent(fake_stripe)] == ["invoice-GM-2026-000011-attempt-1"] * 2
    assert len(fake_stripe.objects("/v1/payment_intents")) == 1


def test_a_declined_charge_makes_the_next_try_a_new_attempt_with_a_new_key(fake_stripe, invoice):
    fake_stripe.script = ["decline"]

    assert invoice_collect(invoice_id=invoice.pk).status == ChargeStatus.FAILED
    assert invoice_collect(invoice_id=invoice.pk).status == ChargeStatus.SUCCEEDED

    assert [k for k, *_ in sent(fake_stripe)] == [
        "invoice-GM-2026-000011-attempt-1",
        "invoice-GM-2026-000011-attempt-2",
    ]
    assert list(PaymentAttempt.objects.values_list("number", "status")) == [
        (1, "failed"),
        (2, "succeeded"),
    ]


def test_a_pending_attempt_is_sent_again_as_it_was_first_sent(fake_stripe, invoice):
    """Stripe refuses a key reused with other parameters: the retry keeps the amount and the
    card of the first request, even if the card was changed meanwhile."""
    fake_stripe.script = ["500"]
    invoice_collect(invoice_id=invoice.pk)
    PaymentAccount.objects.filter(org=invoice.org).update(payment_method="pm_card_2")

    invoice_collect(invoice_id=invoice.pk)

    assert {row[3] for row in sent(fake_stripe)} == {"pm_card_1"}


def test_a_top_up_retried_after_a_timeout_is_credited_once(fake_stripe, invoice):
    fake_stripe.script = ["stall"]
    fake_stripe.stall_seconds = 5
    top_up = TopUp.objects.create(
        org=invoice.org, amount=D("40.00"), currency="USD", payment_method="pm_card_1"
    )
    assert top_up_charge(top_up_id=top_up.pk).status == ChargeStatus.PENDING
    fake_stripe.release()

    assert top_up_charge(top_up_id=top_up.pk).status == ChargeStatus.SUCCEEDED

    assert [k for k, *_ in sent(fake_stripe)] == [f"top-up-{top_up.pk}"] * 2
    assert len(fake_stripe.objects("/v1/payment_intents")) == 1
    assert JournalEntry.objects.filter(kind="top_up").count() == 1


def test_a_refund_retried_after_a_500_is_made_once(fake_stripe, invoice):
    invoice_collect(invoice_id=invoice.pk)  # paid by card, pi_fake000001
    note = credit_note_issue(
        invoice_id=invoice.pk, request=CreditRequest(reason="outage", amount=D("1.00"))
    )
    refund = Refund.objects.get(credit_note=note)
    fake_stripe.script = ["500"]

    assert refund_send(refund_id=refund.pk).status == ChargeStatus.PENDING
    assert refund_send(refund_id=refund.pk).status == ChargeStatus.SUCCEEDED

    refunds = [
        (r.idempotency_key, r.form["amount"], r.form["payment_intent"])
        for r in fake_stripe.requests
        if r.path == "/v1/refunds"
    ]
    number = CreditNote.objects.get().number
    assert refunds == [(f"credit-note-{number}", "110", "pi_fake000001")] * 2
    assert len(fake_stripe.objects("/v1/refunds")) == 1
    assert JournalEntry.objects.filter(kind="refund").count() == 1
