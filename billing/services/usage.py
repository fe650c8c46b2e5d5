"""Usage metering: every running second of a reservation, recorded exactly once.

Intervals chain: each starts where the last ended, and (reservation, interval_start) is
unique, so two recorders racing insert one row between them. Intervals are cut at month
boundaries so that each billing period gets exactly its own seconds.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from billing.models import UsageRecord
from marketplace.models import Reservation, ReservationStatus
from marketplace.services.reservations import whole_seconds

METERED_STATUSES = (
    ReservationStatus.RUNNING,
    ReservationStatus.TERMINATING,
    ReservationStatus.TERMINATED,
    ReservationStatus.PREEMPTED,
    ReservationStatus.FAILED,
)


def month_start(moment: datetime) -> datetime:
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def next_month_start(moment: datetime) -> datetime:
    if moment.month == 12:
        return datetime(moment.year + 1, 1, 1, tzinfo=UTC)
    return datetime(moment.year, moment.month + 1, 1, tzinfo=UTC)


def _metered_until(reservation: Reservation, now: datetime) -> datetime:
    """Usage runs until the reservation ended, or until now while it still runs."""
    return reservation.ended_at or whole_seconds(now)


def _covered_until(reservation: Reservation) -> datetime:
    last_end = reservation.usage.aggregate(end=Max("interval_end"))["end"]
    return last_end or reservation.running_since


def usage_record_for_reservation(
    *, reservation_id: int, now: datetime | None = None
) -> list[UsageRecord]:
    """Record the reservation's usage up to now (or its end). Returns the new intervals."""
    reservation = Reservation.objects.filter(pk=reservation_id, status__in=METERED_STATUSES).first()
    if reservation is None or reservation.running_since is None:
        return []
    until = _metered_until(reservation, now or timezone.now())
    start = _covered_until(reservation)
    created = []
    while start < until:
        end = min(until, next_month_start(start))
        record = _insert_interval(reservation, start, end)
        if record is None:
            break  # another recorder got there first; it will carry on from its own end
        created.append(record)
        start = end
    return created


def _insert_interval(
    reservation: Reservation, start: datetime, end: datetime
) -> UsageRecord | None:
    try:
        with transaction.atomic():
            return UsageRecord.objects.create(
                reservation=reservation,
                org_id=reservation.org_id,
                interval_start=start,
                interval_end=end,
                seconds=int((end - start).total_seconds()),
                price_per_hour=reservation.price_per_hour,
                currency=reservation.currency,
            )
    except IntegrityError:
        return None


def reservations_to_meter():
    return Reservation.objects.filter(
        status__in=(ReservationStatus.RUNNING, ReservationStatus.TERMINATING),
        running_since__isnull=False,
    ).values_list("pk", flat=True)
