"""Run segments: each stretch of running time of a reservation, opened when it starts running
and closed when its instance ends. Billing meters runs, so a reservation preempted and
placed again is billed for its two runs and never for the gap between them."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Max

from marketplace.models import Reservation, ReservationRun
from marketplace.signals import run_closed


def run_open(*, reservation: Reservation, started_at: datetime) -> ReservationRun:
    """Called with the reservation row locked (from `reservation_transition`), so numbers
    cannot collide; the partial unique constraint refuses a second open run anyway."""
    number = (reservation.runs.aggregate(n=Max("number"))["n"] or 0) + 1
    return ReservationRun.objects.create(
        reservation=reservation,
        number=number,
        offer_id=reservation.offer_id,
        instance_id=reservation.instance_id,
        price_per_hour=reservation.price_per_hour,
        currency=reservation.currency,
        started_at=started_at,
    )


def run_close(*, reservation: Reservation, ended_at: datetime) -> None:
    """End the open run, if any, at `ended_at` (never before it started: a provider's clock
    or a late poll must not make a negative run). The end may lie before what was already
    metered (a backdated report): `run_closed` lets billing trim that in this transaction."""
    run = reservation.runs.filter(ended_at__isnull=True).first()
    if run is not None:
        run.ended_at = max(ended_at, run.started_at)
        run.save(update_fields=["ended_at"])
        run_closed.send(sender=ReservationRun, run=run)
