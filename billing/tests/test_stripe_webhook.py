"""`POST /api/v1/stripe/webhook/`: Stripe's signature checked (300 s tolerance), each event
handled once. Signatures are made here as Stripe documents them (HMAC-SHA256 of
"<timestamp>.<body>" with the endpoint's secret, in `t=...,v1=...`), not by the library the
endpoint verifies with."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from decimal import Decimal

import pytest

from billing.models import (
    ChargeStatus,
    InvoiceStatus,
    JournalEntry,
    PaymentAccount,
    PaymentAttempt,
    StripeEvent,
    TopUp,
)
from billing.selectors import org_prepaid_credit
from billing.tests.payouts_fixtures import SEPTEMBER, issued_invoice, reservation_of
from tests.factories import ProviderFactory, make_org_with_key

pytestmark = pytest.mark.django_db

SECRET = "whsec_test_endpoint"
URL = "/api/v1/stripe/webhook/"


@pytest.fixture(autouse=True)
def _secret(settings):
    settings.STRIPE_WEBHOOK_SECRET = SECRET


def signed(body: bytes, *, at: int | None = None, secret: str = SECRET) -> str:
    timestamp = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def deliver(client, event: dict, **signing):
    body = json.dumps(event).encode()
    return client.post(
        URL, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signed(body, **signing)
    )


def intent_event(event_id: str, kind: str, intent_id: str, metadata: dict, **extra) -> dict:
    return {
        "id": event_id,
        "object": "event",
        "type": kind,
        "created": int(time.time()),
        "data": {
            "object": {
                "id": intent_id,
                "object": "payment_intent",
                "status": "succeeded" if kind.endswith("succeeded") else "requires_payment_method",
                "metadata": metadata,
                **extra,
            }
        },
    }


@pytest.fixture
def pending_attempt() -> PaymentAttempt:
    """An attempt sent to Stripe whose answer we never got (11.00 due)."""
    finance = make_org_with_key(role="finance")
    PaymentAccount.objects.create(org=finance.org, stripe_customer="cus_1", payment_method="pm_1")
    invoice = issued_invoice(
        finance.org, SEPTEMBER, "GM-2026-000009",
        [(reservation_of(finance.org, ProviderFactory(slug="cloud-w")), "10.00")], tax="1.00",
    )  # fmt: skip
    return PaymentAttempt.objects.create(
        invoice=invoice, number=1, idempotency_key="invoice-GM-2026-000009-attempt-1",
        amount=Decimal("11.00"), currency="USD", payment_method="pm_1",
    )  # fmt: skip


def test_a_succeeded_event_pays_the_invoice_once_however_often_it_is_delivered(
    client, pending_attempt
):
    event = intent_event(
        "evt_1", "payment_intent.succeeded", "pi_1", {"attempt": pending_attempt.idempotency_key}
    )

    first = deliver(client, event)
    second = deliver(client, event)

    assert (first.status_code, first.json()) == (200, {"received": True, "duplicate": False})
    assert (second.status_code, second.json()) == (200, {"received": True, "duplicate": True})
    invoice = pending_attempt.invoice
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_due) == (InvoiceStatus.PAID, Decimal("0.00"))
    assert JournalEntry.objects.filter(kind="payment").count() == 1
    assert StripeEvent.objects.filter(event_id="evt_1").count() == 1
    pending_attempt.refresh_from_db()
    assert (pending_attempt.status, pending_attempt.payment_intent) == ("succeeded", "pi_1")


def test_a_failed_event_fails_the_attempt_and_schedules_the_next(client, pending_attempt):
    event = intent_event(
        "evt_2", "payment_intent.payment_failed", "pi_2",
        {"attempt": pending_attempt.idempotency_key},
        last_payment_error={"code": "card_declined", "message": "Your card was declined."},
    )  # fmt: skip

    assert deliver(client, event).status_code == 200

    pending_attempt.refresh_from_db()
    assert (pending_attempt.status, pending_attempt.error_code) == ("failed", "card_declined")
    invoice = pending_attempt.invoice
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.OPEN
    assert invoice.next_collection_at is not None
    assert "declined" in invoice.collection_error


def test_a_late_failure_after_the_success_changes_nothing(client, pending_attempt):
    metadata = {"attempt": pending_attempt.idempotency_key}
    deliver(client, intent_event("evt_3", "payment_intent.succeeded", "pi_3", metadata))

    deliver(client, intent_event("evt_4", "payment_intent.payment_failed", "pi_3", metadata))

    pending_attempt.refresh_from_db()
    assert pending_attempt.status == "succeeded"


def test_a_succeeded_event_credits_a_pending_top_up(client):
    finance = make_org_with_key(role="finance")
    top_up = TopUp.objects.create(
        org=finance.org, amount=Decimal("25.00"), currency="USD", payment_method="pm_1"
    )
    event = intent_event("evt_5", "payment_intent.succeeded", "pi_5", {"top_up": str(top_up.pk)})

    deliver(client, event)
    deliver(client, event)

    top_up.refresh_from_db()
    assert (top_up.status, top_up.credited_at is not None) == (ChargeStatus.SUCCEEDED, True)
    assert org_prepaid_credit(org=finance.org, currency="USD") == Decimal("25.00")


@pytest.mark.parametrize(
    "signing",
    [
        {"secret": "whsec_someone_else"},  # forged
        {"at": int(time.time()) - 301},  # replayed after the tolerance
    ],
    ids=["forged", "stale"],
)
def test_forged_or_stale_deliveries_are_refused(client, pending_attempt, signing):
    event = intent_event(
        "evt_6", "payment_intent.succeeded", "pi_6", {"attempt": pending_attempt.idempotency_key}
    )

    response = deliver(client, event, **signing)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_signature"
    assert not StripeEvent.objects.exists()
    pending_attempt.refresh_from_db()
    assert pending_attempt.status == "pending"


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"{}", {}),  # no signature at all
        (b"not json", {"HTTP_STRIPE_SIGNATURE": signed(b"not json")}),
        (b'{"type": "x"}', {"HTTP_STRIPE_SIGNATURE": signed(b'{"type": "x"}')}),  # no id
        (b"[1]", {"HTTP_STRIPE_SIGNATURE": signed(b"[1]")}),
        (b'"evt"', {"HTTP_STRIPE_SIGNATURE": signed(b'"evt"')}),
        (b'{"id": 5}', {"HTTP_STRIPE_SIGNATURE": signed(b'{"id": 5}')}),
        (
            b'{"id": "evt_8", "data": 3}',
            {"HTTP_STRIPE_SIGNATURE": signed(b'{"id": "evt_8", "data": 3}')},
        ),
    ],
    ids=["unsigned", "not-json", "no-id", "array", "string", "numeric-id", "bad-data"],
)
def test_malformed_deliveries_are_a_400(client, body, headers):
    response = client.post(URL, body, content_type="application/json", **headers)

    assert response.status_code == 400
    assert not StripeEvent.objects.exists()


def test_events_of_other_types_are_stored_and_ignored(client):
    response = deliver(client, {"id": "evt_7", "object": "event", "type": "customer.created",
                                "data": {"object": {"id": "cus_9"}}})  # fmt: skip

    assert response.json() == {"received": True, "duplicate": False}
    assert StripeEvent.objects.get().type == "customer.created"
