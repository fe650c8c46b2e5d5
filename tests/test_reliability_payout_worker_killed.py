"""A worker killed in the middle of a payout: `billing.pay_statement` is `acks_late` and
`reject_on_worker_lost`, so its message comes back, and the statement is paid exactly once.

The local Stripe (tests/stripe_fake.py) makes the transfer and then holds its answer:
the worker is killed while Stripe has made the transfer and we have not heard of it. The
restarted worker sends the same idempotency key, and Stripe answers with that transfer.

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
    JournalEntry,
    ProviderPayoutAccount,
    ProviderStatement,
    StatementStatus,
)
from billing.selectors import provider_payable
from billing.services.payouts import statements_build
from billing.tests.payouts_fixtures import NOVEMBER, SEPTEMBER, issued_invoice, mark_paid
from config.celery import app
from conftest import wait_until
from tests.factories import make_org_with_key
from tests.stripe_fake import stripe_served

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def connect():
    with stripe_served() as fake:
        yield fake


@pytest.fixture
def statement(settings) -> ProviderStatement:
    """A provider's September statement, net 90.00 USD (100.00 less 10 %), with its account."""
    from billing.tests.payouts_fixtures import owned_provider, reservation_of

    settings.PLATFORM_FEE_PERCENT = Decimal("10")
    buyer = make_org_with_key(role="finance")
    _, provider = owned_provider("acme")
    invoice = issued_invoice(
        buyer.org, SEPTEMBER, "GM-2026-000001", [(reservation_of(buyer.org, provider), "100.00")],
        tax="0.00",
    )  # fmt: skip
    mark_paid(invoice)
    ProviderPayoutAccount.objects.create(provider=provider, stripe_account="acct_1AcmeConnect")
    (built,) = statements_build(period=SEPTEMBER, now=NOVEMBER)
    assert built.net == Decimal("90.00")
    return built


def _mid_transfer(celery_worker_factory, connect, statement, queue, env):
    """A worker inside the transfer call: Stripe made the transfer, its answer is held."""
    connect.script = ["stall"]
    connect.stall_seconds = 60
    worker = celery_worker_factory(queue=queue, env=env)
    app.send_task("billing.pay_statement", args=[statement.pk], queue=queue)
    wait_until(lambda: connect.requests, timeout=30, what="the transfer request")
    waiting = ProviderStatement.objects.get(pk=statement.pk)
    assert (waiting.status, waiting.attempts, waiting.transfer) == ("payable", 1, "")
    return worker


def test_it_pays_once_when_the_worker_is_killed_mid_transfer(
    celery_worker_factory, connect, statement
):
    queue = f"payouts-{uuid.uuid4().hex[:8]}"
    env = {"STRIPE_API_BASE": connect.url, "STRIPE_TIMEOUT_SECONDS": "30"}
    # given a worker inside the transfer call
    doomed = _mid_transfer(celery_worker_factory, connect, statement, queue, env)

    # when the worker and its pool are killed outright, and a new worker starts (a short
    # visibility timeout, so Redis hands it the unacknowledged message at once)
    os.killpg(doomed.pid, signal.SIGKILL)
    doomed.wait(timeout=10)
    celery_worker_factory(
        queue=queue,
        env={**env, "CELERY_VISIBILITY_TIMEOUT": "1", "CELERY_UNACKED_RESTORE_SECONDS": "1"},
    )

    # then the statement is paid by the one transfer Stripe made
    _assert_paid_once(connect, statement)


def test_it_pays_once_when_the_pool_process_is_killed_mid_transfer(
    celery_worker_factory, connect, statement
):
    queue = f"payouts-{uuid.uuid4().hex[:8]}"
    env = {"STRIPE_API_BASE": connect.url, "STRIPE_TIMEOUT_SECONDS": "30"}
    worker = _mid_transfer(celery_worker_factory, connect, statement, queue, env)

    # when that pool process is killed (the OOM killer's way)
    (child,) = psutil.Process(worker.pid).children()
    child.send_signal(signal.SIGKILL)

    # then the worker gets the message back (reject_on_worker_lost) and pays it once
    _assert_paid_once(connect, statement)
    assert worker.poll() is None


def _assert_paid_once(connect, statement) -> None:
    paid = wait_until(
        lambda: ProviderStatement.objects.filter(
            pk=statement.pk, status=StatementStatus.PAID
        ).first(),
        timeout=40,
        what="the redelivered payout to finish",
    )
    assert paid.transfer == "tr_fake000001"
    assert len(connect.transfers) == 1
    requests = [(r.idempotency_key, r.form["amount"], r.form["currency"], r.form["destination"])
                for r in connect.requests]  # fmt: skip
    assert len(requests) >= 2
    assert set(requests) == {(f"statement-{statement.pk}", "9000", "usd", "acct_1AcmeConnect")}
    # and posted and audited once; nothing is left payable
    assert JournalEntry.objects.filter(kind="payout").count() == 1
    assert provider_payable(provider=statement.provider, currency="USD") == Decimal("0.00")
    assert AuditRecord.objects.filter(action="payout").count() == 1
    assert not ProviderStatement.objects.filter(status=StatementStatus.PAYABLE).exists()
