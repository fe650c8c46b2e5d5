"""What a reservation has cost so far, for pages: billed seconds of its running time."""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone

from marketplace.models import Reservation
from marketplace.money import cost_of_seconds, round_amount


def reservation_cost_so_far(*, reservation: Reservation) -> Decimal:
    if reservation.running_since is None:
        return round_amount(Decimal(0), reservation.currency)
    end = reservation.ended_at or timezone.now()
    seconds = max(0, int((end - reservation.running_since).total_seconds()))
    return round_amount(cost_of_seconds(seconds, reservation.price_per_hour), reservation.currency)
