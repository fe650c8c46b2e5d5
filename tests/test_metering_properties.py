"""The metering invariant, over random sequences of what happens to a reservation: running,
metered (or the meter task lost), preempted (reported late or on time), relaunched, and
terminated (reported late or on time).

At every step no run is metered past its end (or past now while open) and intervals chain
without overlap; once the meter has run after the end, every closed run is metered for
exactly end - start seconds, each second once, and the draft invoice carries them all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
import time_machine
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.models import InvoiceLine, UsageRecord
from billing.services.invoices import reservation_meter_and_invoice
from brokers.services import launch
from marketplace.models import Reservation, ReservationStatus
from marketplace.services.reservations import (
    ReservationRequest,
    reservation_create,
    reservation_mark_preempted,
    reservation_mark_terminated,
)
from tests.factories import OfferFactory, make_org_with_key

pytestmark = pytest.mark.django_db

# Ten minutes before a month ends: sequences cross into the next billing period.
T0 = datetime(2026, 9, 30, 23, 50, 0, tzinfo=UTC)
PRICE = Decimal("2.990000")

steps = st.lists(
    st.one_of(
        st.tuples(st.just("advance"), st.integers(1, 900)),
        st.tuples(st.just("meter"), st.just(0)),
        st.tuples(st.just("preempt"), st.integers(0, 1200)),  # reported this many s late
        st.tuples(st.just("relaunch"), st.just(0)),
    ),
    max_size=25,
)


def _running_reservation() -> Reservation:
    buyer = make_org_with_key(role="buyer")
    offer = OfferFactory(available=1, price_per_hour=PRICE)
    reservation, _ = reservation_create(
        org=buyer.org,
        user=buyer.user,
        request=ReservationRequest(
            offer_id=offer.pk, gpus=1, hours=Decimal("24"), auto_relaunch=True
        ),
    )
    launch.launch_reservation(reservation_id=reservation.pk)
    return Reservation.objects.get(pk=reservation.pk)


def _ended_at(run, now: datetime, late: int) -> datetime:
    return max(run.started_at, now - timedelta(seconds=late))


def _apply(step: str, value: int, reservation_id: int, traveller) -> None:
    now = datetime.now(UTC)
    reservation = Reservation.objects.get(pk=reservation_id)
    open_run = reservation.runs.filter(ended_at__isnull=True).first()
    if step == "advance":
        traveller.shift(timedelta(seconds=value))
    elif step == "meter":
        reservation_meter_and_invoice(reservation_id=reservation_id)
    elif step == "preempt" and open_run is not None:
        reservation_mark_preempted(
            reservation_id=reservation_id, at=_ended_at(open_run, now, value)
        )
    elif step == "relaunch" and reservation.status == ReservationStatus.PREEMPTED:
        launch.launch_reservation(reservation_id=reservation_id)


def _assert_chained_and_bounded(reservation: Reservation, now: datetime) -> None:
    for run in reservation.runs.all():
        intervals = list(
            UsageRecord.objects.filter(run=run)
            .order_by("interval_start")
            .values_list("interval_start", "interval_end", "seconds")
        )
        expected_start = run.started_at
        for start, end, seconds in intervals:
            assert start == expected_start, "intervals chain from the run's start, no gap"
            assert seconds == (end - start).total_seconds() > 0
            expected_start = end
        assert expected_start <= (run.ended_at or now), "never metered past the end or now"
        assert expected_start <= run.reservation.reserved_until, "nor past the reserved end"


def _assert_every_second_once(reservation: Reservation, now: datetime) -> None:
    for run in reservation.runs.all():
        metered = UsageRecord.objects.filter(run=run).aggregate(s=Sum("seconds"))["s"] or 0
        end = min(run.ended_at or now, run.reservation.reserved_until)
        assert metered == max(end - run.started_at, timedelta(0)).total_seconds()
    lines = InvoiceLine.objects.filter(reservation=reservation, component="compute")
    usage = UsageRecord.objects.filter(reservation=reservation)
    assert lines.aggregate(s=Sum("seconds"))["s"] == usage.aggregate(s=Sum("seconds"))["s"]
    for line in lines:
        cents = Decimal(line.seconds) * PRICE / 3600
        assert line.amount == cents.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    for invoice in {line.invoice for line in lines.select_related("invoice")}:
        assert invoice.total == invoice.lines.aggregate(s=Sum("amount"))["s"]
    reservation.refresh_from_db()
    # the start-up time is billed once, however many runs there were
    boot = InvoiceLine.objects.filter(reservation=reservation, component="boot")
    booted = reservation.runs.exists() and reservation.boot_seconds
    assert list(boot.values_list("seconds", flat=True)) == ([120] if booted else [])
    assert reservation.usage_seconds == (usage.aggregate(s=Sum("seconds"))["s"] or 0)
    every_line = InvoiceLine.objects.filter(reservation=reservation)
    assert reservation.cost == (every_line.aggregate(s=Sum("amount"))["s"] or 0)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=steps, late=st.integers(0, 1200), ends=st.booleans())
def test_each_running_second_is_metered_once_and_never_past_the_end(steps, late, ends):
    with time_machine.travel(T0, tick=False) as traveller:
        reservation = _running_reservation()
        for step, value in steps:
            _apply(step, value, reservation.pk, traveller)
            _assert_chained_and_bounded(reservation, datetime.now(UTC))

        # the end, reported `late` seconds late (or the reservation still running), then
        # the meter once more, as the task queued at the end or the sweep would
        open_run = reservation.runs.filter(ended_at__isnull=True).first()
        if ends and open_run is not None:
            at = _ended_at(open_run, datetime.now(UTC), late)
            reservation_mark_terminated(reservation_id=reservation.pk, at=at)
        reservation_meter_and_invoice(reservation_id=reservation.pk)

        now = datetime.now(UTC)
        _assert_chained_and_bounded(reservation, now)
        _assert_every_second_once(reservation, now)
