"""A worker killed in the middle of collecting an invoice: `billing.collect_invoice` is
`acks_late` and `reject_on_worker_lost`, and the attempt's key was committed before Stripe
was called, so the restarted worker sends the same key and the buyer is charged once.

The local Stripe (tests/stripe_fake.py) makes the PaymentIntent and then holds its answer:
the worker is killed while Stripe has charged the card and we have not heard of it.

Real processes throughout: PostgreSQL, Redis and `celery worker` processes of their own, on
a queue of their own, killed with SIGKILL; the fake Stripe serves them over HTTP.
"""

from __future__ import annotations

import os
import signal
import uuid
from decimal import Decimal

import psutil
import pytest

from billing.models import (
    AuditRecord,
    Invoice,
    InvoiceStatus,
    JournalEntry,
    PaymentAccount,
    PaymentAttempt,
)
from billing.selectors import org_receivable
from billing.tests.payouts_fixtures import SEPTEMBER, issued_invoice, reservation_of
from config.celery import app
from conftest import wait_until
from tests.factories import ProviderFactory, make_org_with_key
from tests.stripe_fake import stripe_served

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

KEY = "invoice-GM-2026-000021-attempt-1"


@pytest.fixture
def stripe():
    with stripe_served() as fake:
        yield fake


@pytest.fixture
def invoice() -> Invoice:
    """GM-2026-000021: 20.00 + 2.00 tax due; the organization's card pm_card_1."""
    finance = make_org_with_key(role="finance")
    PaymentAccount.objects.create(
        org=finance.org, stripe_customer="cus_fake1", payment_method="pm_card_1"
    )
    return issued_invoice(
        finance.org, SEPTEMBER, "GM-2026-000021",
        [(reservation_of(finance.org, ProviderFactory(slug="cloud-k")), "20.00")], tax="2.00",
    )  # fmt: skip


def _mid_charge(celery_worker_factory, stripe, invoice, queue, env):
    """A worker inside the charge: Stripe made the PaymentIntent, its answer is held."""
    stripe.script = ["stall"]
    stripe.stall_seconds = 60
    worker = celery_worker_factory(queue=queue, env=env)
    app.send_task("billing.collect_invoice", args=[invoice.pk], queue=queue)
    wait_until(lambda: stripe.requests, timeout=30, what="the charge request")
    attempt = PaymentAttempt.objects.get(invoice=invoice)
    assert (attempt.status, attempt.idempotency_key) == ("pending", KEY)
    return worker


def test_it_charges_once_when_the_worker_is_killed_mid_charge(
    celery_worker_factory, stripe, invoice
):
    queue = f"collect-{uuid.uuid4().hex[:8]}"
    env = {"STRIPE_API_BASE": stripe.url, "STRIPE_TIMEOUT_SECONDS": "30"}
    doomed = _mid_charge(celery_worker_factory, stripe, invoice, queue, env)

    # when the worker and its pool are killed outright, and a new worker starts (a short
    # visibility timeout, so Redis hands it the unacknowledged message at once)
    os.killpg(doomed.pid, signal.SIGKILL)
    doomed.wait(timeout=10)
    celery_worker_factory(
        queue=queue,
        env={**env, "CELERY_VISIBILITY_TIMEOUT": "1", "CELERY_UNACKED_RESTORE_SECONDS": "1"},
    )

    _assert_charged_once(stripe, invoice)


def test_it_charges_once_when_the_pool_process_is_killed_mid_charge(
    celery_worker_factory, stripe, invoice
):
    queue = f"collect-{uuid.uuid4().hex[:8]}"
    env = {"STRIPE_API_BASE": stripe.url, "STRIPE_TIMEOUT_SECONDS": "30"}
    worker = _mid_charge(celery_worker_factory, stripe, invoice, queue, env)

    # when that pool process is killed (the OOM killer's way)
    (child,) = psutil.Process(worker.pid).children()
    child.send_signal(signal.SIGKILL)

    # then the worker gets the message back (reject_on_worker_lost) and charges once
    _assert_charged_once(stripe, invoice)
    assert worker.poll() is None


def _assert_charged_once(stripe, invoice) -> None:
    paid = wait_until(
        lambda: Invoice.objects.filter(pk=invoice.pk, status=InvoiceStatus.PAID).first(),
        timeout=40,
        what="the redelivered collection to finish",
    )
    assert paid.amount_due == Decimal("0.00")
    assert len(stripe.objects("/v1/payment_intents")) == 1
    requests = [(r.idempotency_key, r.form["amount"], r.form["currency"]) for r in stripe.requests]
    assert len(requests) >= 2
    assert set(requests) == {(KEY, "2200", "usd")}
    # and posted and audited once; nothing is owed
    assert JournalEntry.objects.filter(kind="payment").count() == 1
    assert org_receivable(org=invoice.org, currency="USD") == Decimal("0.00")
    assert AuditRecord.objects.filter(action="invoice_paid").count() == 1
    assert PaymentAttempt.objects.filter(invoice=invoice).count() == 1
