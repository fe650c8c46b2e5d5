"""Usage metering: every running second of a reservation, recorded exactly once.

A reservation runs in one or more runs (`ReservationRun`: preempted and placed again, it
has two), and only the runs are metered, never the gap between them. Within a run,
intervals chain: each starts where the last ended, recorded with the run row locked, and
(reservation, interval_start) is unique besides. A run closed at an end earlier than what
was metered is trimmed back to it. Nothing is metered past the reservation's reserved end.
Intervals are cut at month boundaries so that each billing period gets exactly its own
seconds.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import Max, Sum
from django.utils import timezone

from billing.models import UsageRecord
from billing.periods import next_month_start
from marketplace.models import Reservation, ReservationRun, ReservationStatus
from marketplace.services.reservations import whole_seconds


def usage_record_for_reservation(
    *, reservation_id: int, now: datetime | None = None
) -> list[UsageRecord]:
    """Record the usage of each of the reservation's runs up to its end, or up to now while
    it runs. Returns the new intervals."""
    now = whole_seconds(now or timezone.now())
    run_ids = ReservationRun.objects.filter(reservation_id=reservation_id).values_list(
        "pk", flat=True
    )
    created: list[UsageRecord] = []
    for run_id in run_ids:
        created.extend(_record_run(run_id, now=now))
    return created


@transaction.atomic
def _record_run(run_id: int, *, now: datetime) -> list[UsageRecord]:
    # The run row locked: a close waits until these intervals are committed (and trims what
    # passed its end), or has committed and this reads its end. Two recorders take turns.
    run = ReservationRun.objects.select_for_update().select_related("reservation").get(pk=run_id)
    until = billable_end(run, now)
    start = run.usage.aggregate(end=Max("interval_end"))["end"] or run.started_at
    created = []
    while start < until:
        end = min(until, next_month_start(start))
        created.append(_interval(run, start, end))
        start = end
    UsageRecord.objects.bulk_create(created)
    return created


def billable_end(run: ReservationRun, now: datetime) -> datetime:
    """Where a run's metering stops: its end (now while it runs), and never past the
    reservation's reserved end: the seconds the platform takes to end it are not billed."""
    return min(run.ended_at or now, run.reservation.reserved_until)


def _interval(run: ReservationRun, start: datetime, end: datetime) -> UsageRecord:
    return UsageRecord(
        reservation_id=run.reservation_id,
        run=run,
        org_id=run.reservation.org_id,
        interval_start=start,
        interval_end=end,
        seconds=int((end - start).total_seconds()),
        price_per_hour=run.price_per_hour,
        currency=run.currency,
    )


def usage_trim_to_run_end(*, run: ReservationRun) -> int:
    """Take back the seconds metered past the end of a closed run: intervals that start at
    or after the end go, the one that spans it is cut there. Returns the seconds taken back.

    Called in the transaction that closes the run (billing.receivers), with the reservation
    row locked: a recorder that read the run as open before it closed inserts from its own
    chain end, and the next recording of the closed run starts from the trimmed end."""
    end = run.ended_at
    later = run.usage.filter(interval_start__gte=end)
    taken_back = later.aggregate(seconds=Sum("seconds"))["seconds"] or 0
    later.delete()
    spanning = run.usage.filter(interval_start__lt=end, interval_end__gt=end).first()
    if spanning is not None:
        kept = int((end - spanning.interval_start).total_seconds())
        taken_back += spanning.seconds - kept
        spanning.interval_end, spanning.seconds = end, kept
        spanning.save(update_fields=["interval_end", "seconds"])
    return taken_back


def reservations_to_meter():
    return Reservation.objects.filter(
        status__in=(ReservationStatus.RUNNING, ReservationStatus.TERMINATING),
        runs__ended_at__isnull=True,
    ).values_list("pk", flat=True)
