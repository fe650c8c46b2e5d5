"""The per-reservation billing path and the metering tick lock drafts in one order (by id),
so that they cannot wait on each other in a cycle. Two real connections: one stands for the
tick (it locks the organization's drafts in id order, with a pause between them), the other
brings a reservation with usage in two months up to date. The later month's draft is the
older row, so month order and id order disagree."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connections, transaction

from billing.models import Invoice, InvoiceLine, UsageRecord
from billing.services.invoices import invoice_drafts_update_for_reservation
from marketplace.models import Reservation
from tests.factories import OfferFactory, OrganizationFactory

pytestmark = pytest.mark.django_db(transaction=True)

OCTOBER = datetime(2026, 10, 1, tzinfo=UTC)
NOVEMBER = datetime(2026, 11, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 15, tzinfo=UTC)


def _draft(org, period: datetime, end: datetime) -> Invoice:
    return Invoice.objects.create(org=org, period_start=period, period_end=end, currency="USD")


def _hour_of_usage(reservation: Reservation, start: datetime) -> None:
    UsageRecord.objects.create(
        reservation=reservation, org=reservation.org, interval_start=start,
        interval_end=start + timedelta(hours=1), seconds=3600,
        price_per_hour=reservation.price_per_hour, currency="USD",
    )  # fmt: skip


def _in_thread(work, errors: list) -> threading.Thread:
    def run():
        try:
            work()
        except Exception as error:  # noqa: BLE001 - reported by the test
            errors.append(error)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_billing_a_reservation_and_the_tick_do_not_deadlock():
    # given a reservation that ran an hour in October and an hour in November, and the two
    # drafts, November's made first (the lower id)
    org = OrganizationFactory()
    reservation = Reservation.objects.create(
        org=org, offer=OfferFactory(), gpus=1, units=1, hours=Decimal(800),
        price_per_hour=Decimal("2.000000"), reserved_until=NOW,
    )  # fmt: skip
    _hour_of_usage(reservation, datetime(2026, 10, 30, 12, tzinfo=UTC))
    _hour_of_usage(reservation, datetime(2026, 11, 2, 12, tzinfo=UTC))
    november = _draft(org, NOVEMBER, datetime(2026, 12, 1, tzinfo=UTC))
    october = _draft(org, OCTOBER, NOVEMBER)
    assert november.pk < october.pk
    tick_holds_the_first = threading.Event()
    errors: list = []

    def tick():  # locks in id order, pausing while holding the first
        with transaction.atomic():
            list(Invoice.objects.select_for_update().filter(pk=november.pk))
            tick_holds_the_first.set()
            time.sleep(1.5)
            list(Invoice.objects.select_for_update().filter(pk=october.pk))

    def bill():  # in one transaction, as the receiver of a run's end bills it
        assert tick_holds_the_first.wait(timeout=10)
        with transaction.atomic():
            invoice_drafts_update_for_reservation(reservation_id=reservation.pk, now=NOW)

    # when both run at once
    threads = [_in_thread(tick, errors), _in_thread(bill, errors)]
    for thread in threads:
        thread.join(timeout=30)

    # then neither was cancelled as a deadlock, and each month's hour is on its draft
    assert errors == []
    assert not any(thread.is_alive() for thread in threads)
    amounts = dict(
        InvoiceLine.objects.filter(reservation=reservation, component="compute").values_list(
            "invoice_id", "amount"
        )
    )
    assert amounts == {october.pk: Decimal("2.00"), november.pk: Decimal("2.00")}
