"""Usage metering: every running second of a reservation, recorded exactly once.

A reservation runs in one or more runs (`ReservationRun`: preempted and placed again, it
has two), and only the runs are metered, never the gap between them. Within a run,
intervals chain: each starts where the last ended, and (reservation, interval_start) is
unique, so two recorders racing insert one row between them. Intervals are cut at month
boundaries so that each billing period gets exactly its own seconds.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from billing.models import UsageRecord
from marketplace.models import Reservation, ReservationRun, ReservationStatus
from marketplace.services.reservations import whole_seconds


def month_start(moment: datetime) -> datetime:
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def next_month_start(moment: datetime) -> datetime:
    if moment.month == 12:
        return datetime(moment.year + 1, 1, 1, tzinfo=UTC)
    return datetime(moment.year, moment.month + 1, 1, tzinfo=UTC)


def usage_record_for_reservation(
    *, reservation_id: int, now: datetime | None = None
) -> list[UsageRecord]:
    """Record the usage of each of the reservation's runs up to its end, or up to now while
    it runs. Returns the new intervals."""
    now = whole_seconds(now or timezone.now())
    runs = ReservationRun.objects.filter(reservation_id=reservation_id).select_related(
        "reservation"
    )
    created: list[UsageRecord] = []
    for run in runs:
        created.extend(_record_run(run, until=run.ended_at or now))
    return created


def _record_run(run: ReservationRun, *, until: datetime) -> list[UsageRecord]:
    start = run.usage.aggregate(end=Max("interval_end"))["end"] or run.started_at
    created = []
    while start < until:
        end = min(until, next_month_start(start))
        record = _insert_interval(run, start, end)
        if record is None:
            break  # another recorder got there first; it will carry on from its own end
        created.append(record)
        start = end
    return created


def _insert_interval(run: ReservationRun, start: datetime, end: datetime) -> UsageRecord | None:
    try:
        with transaction.atomic():
            return UsageRecord.objects.create(
                reservation_id=run.reservation_id,
                run=run,
                org_id=run.reservation.org_id,
                interval_start=start,
                interval_end=end,
                seconds=int((end - start).total_seconds()),
                price_per_hour=run.price_per_hour,
                currency=run.currency,
            )
    except IntegrityError:
        return None


def reservations_to_meter():
    return Reservation.objects.filter(
        status__in=(ReservationStatus.RUNNING, ReservationStatus.TERMINATING),
        runs__ended_at__isnull=True,
    ).values_list("pk", flat=True)
