"""What a reservation has cost so far, for pages: the billed seconds of each of its runs at
that run's price (the gap between a preemption and the relaunch is not billed)."""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone

from common.money import cost_of_seconds, round_amount
from marketplace.models import Reservation


def reservation_cost_so_far(*, reservation: Reservation) -> Decimal:
    now = timezone.now().replace(microsecond=0)
    cost = Decimal(0)
    for run in reservation.runs.all():
        seconds = max(0, int(((run.ended_at or now) - run.started_at).total_seconds()))
        cost += cost_of_seconds(seconds, run.price_per_hour)
    return round_amount(cost, reservation.currency)
