"""Run segments: each stretch of running time of a reservation, opened when it starts running
and closed when its instance ends. Billing meters runs, so a reservation preempted and
placed again is billed for its two runs and never for the gap between them."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from marketplace.models import Reservation, ReservationRun
from marketplace.signals import run_closed


def reserved_end(start: datetime, hours: Decimal) -> datetime:
    return start + timedelta(seconds=int(hours * 3600))


def run_open(*, reservation: Reservation, started_at: datetime) -> ReservationRun:
    """Called with the reservation row locked (from `reservation_transition`), so numbers
    cannot collide; the partial unique constraint refuses a second open run anyway.

    The reserved hours count from when the instance runs: the first run sets the reserved
    end to its start + `hours`, and a run after a preemption moves it on by the gap, so the
    buyer gets the hours of running it reserved (docs/billing.md, "Quote = invoice")."""
    previous = reservation.runs.order_by("-number").first()
    if previous is None:
        reservation.reserved_until = reserved_end(started_at, reservation.hours)
    elif previous.ended_at is not None:
        reservation.reserved_until += max(started_at - previous.ended_at, timedelta(0))
    reservation.save(update_fields=["reserved_until", "updated_at"])
    number = previous.number + 1 if previous else 1
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
