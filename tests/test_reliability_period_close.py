"""A worker killed (SIGKILL) in the middle of closing a period: once a worker finishes the
close, every organization has exactly one invoice for the month, numbered 1..N without a gap
or a repeat, and nothing is lost. Real PostgreSQL, Redis and `celery worker` processes."""

from __future__ import annotations

import os
import signal
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from accounts.models import Organization
from billing.models import Invoice, InvoiceLine, InvoiceStatus
from config.celery import app
from conftest import wait_until
from marketplace.models import Reservation
from tests.factories import OfferFactory, make_org_with_key

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

SEPTEMBER = datetime(2026, 9, 1, tzinfo=UTC)
OCTOBER = datetime(2026, 10, 1, tzinfo=UTC)
ORGS = 400


def _drafts_of_september() -> list[int]:
    """ORGS organizations, each with a September draft of one line."""
    buyer = make_org_with_key()
    reservation = Reservation.objects.create(
        org=buyer.org, offer=OfferFactory(), gpus=1, units=1, hours=Decimal(1),
        price_per_hour=Decimal("3.6"), max_price_per_hour=Decimal("4.5"), reserved_until=OCTOBER,
    )  # fmt: skip
    orgs = Organization.objects.bulk_create(
        [Organization(name=f"Org {n}", slug=f"close-{n}") for n in range(ORGS)]
    )
    invoices = Invoice.objects.bulk_create(
        [
            Invoice(
                org=org,
                period_start=SEPTEMBER,
                period_end=OCTOBER,
                subtotal=Decimal("1.00"),
                total=Decimal("1.00"),
                amount_due=Decimal("1.00"),
            )
            for org in orgs
        ]  # fmt: skip
    )
    InvoiceLine.objects.bulk_create(
        [
            InvoiceLine(
                invoice=invoice,
                reservation=reservation,
                service_period_start=SEPTEMBER,
                description="1000 s",
                seconds=1000,
                price_per_hour=Decimal("3.6"),
                amount=Decimal("1.00"),
            )
            for invoice in invoices
        ]  # fmt: skip
    )
    return [org.pk for org in orgs]


def _open_count() -> int:
    return Invoice.objects.filter(status=InvoiceStatus.OPEN).count()


def test_a_close_killed_midway_finishes_with_one_gapless_invoice_per_organization(
    celery_worker_factory,
):
    # given September's drafts and a worker closing the period
    org_ids = _drafts_of_september()
    queue = f"close-{uuid.uuid4().hex[:8]}"
    doomed = celery_worker_factory(queue=queue)
    app.send_task("billing.close_billing_periods", queue=queue)

    # when the worker and its pool are killed outright in the middle of it
    wait_until(lambda: _open_count() >= 20, timeout=60, interval=0.02, what="the close to start")
    os.killpg(doomed.pid, signal.SIGKILL)
    doomed.wait(timeout=10)
    assert 0 < _open_count() < ORGS, "the kill landed in the middle of the close"

    # and a new worker gets the message back, while beat sends the task again
    celery_worker_factory(
        queue=queue,
        concurrency=2,
        env={"CELERY_VISIBILITY_TIMEOUT": "1", "CELERY_UNACKED_RESTORE_SECONDS": "1"},
    )
    app.send_task("billing.close_billing_periods", queue=queue)

    # then every organization has one invoice, all finalised, numbered 1..N once each
    wait_until(lambda: _open_count() == ORGS, timeout=90, what="the close to finish")
    invoices = Invoice.objects.filter(org_id__in=org_ids)
    assert invoices.count() == ORGS
    assert sorted(invoices.values_list("org_id", flat=True)) == sorted(org_ids)
    assert sorted(invoices.values_list("number", flat=True)) == [
        f"GM-{datetime.now(UTC).year}-{n:06d}" for n in range(1, ORGS + 1)
    ]
    assert not Invoice.objects.filter(status=InvoiceStatus.DRAFT).exists()
    assert InvoiceLine.objects.count() == ORGS
