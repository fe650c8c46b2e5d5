"""Placing a reservation on an offer again: failover after a failed launch, relaunch after a
preemption. Both move capacity atomically: the new offer's units are taken with the same
conditional UPDATE as at reservation, and the old offer's are returned, in one transaction
with the reservation row locked.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from marketplace.models import LaunchAttempt, Offer, Reservation, ReservationStatus
from marketplace.models.reservations import CAPACITY_HOLDING_STATUSES
from marketplace.selectors.failover import (
    attempts_in_current_placement,
    failover_offers,
    reservation_price_limit,
)
from marketplace.services.reservations import (
    offer_return_capacity,
    offer_take_capacity,
    reservation_mark_failed,
    reservation_transition,
)

S = ReservationStatus
# Launch attempts per placement (the first try included): a capacity crunch across a whole
# catalog must end in `failed`, not in a reservation that hops offers for an hour.
MAX_LAUNCH_ATTEMPTS = 5
# Candidates tried per move: each is one conditional UPDATE; losing this many races in a row
# means the catalog is being emptied under us.
MAX_CANDIDATES_PER_MOVE = 20


def _locked(reservation_id: int) -> Reservation:
    return Reservation.objects.select_for_update().select_related("offer").get(pk=reservation_id)


@transaction.atomic
def reservation_fail_over(*, reservation_id: int, reason: str) -> Reservation:
    """After a failed launch attempt (already closed with its outcome and scope): move the
    reservation to the next-best offer, back to PENDING to be launched there, or end it
    FAILED with the history of its attempts. Only a PENDING result is to be launched again."""
    reservation = _locked(reservation_id)
    if reservation.status != S.LAUNCHING:
        return reservation  # terminated meanwhile, or a duplicate task got here first
    attempts = list(attempts_in_current_placement(reservation=reservation))
    if len(attempts) < MAX_LAUNCH_ATTEMPTS:
        offers = failover_offers(
            reservation=reservation,
            price_limit=reservation_price_limit(reservation=reservation),
            attempts=attempts,
        )
        moved = _move_to_first_free(reservation, offers, reason)
        if moved is not None:
            return moved
    return reservation_mark_failed(
        reservation_id=reservation_id, reason=_failure_history(reservation, reason, attempts)
    )


@transaction.atomic
def reservation_relaunch(*, reservation_id: int) -> Reservation:
    """Place a preempted reservation again (`auto_relaunch`): on its own offer while that has
    the capacity (at its locked price), else on the next-best offer within the limit. Ends it
    TERMINATED when its reserved time is over or nothing is left."""
    reservation = _locked(reservation_id)
    if reservation.status != S.PREEMPTED or not reservation.auto_relaunch:
        return reservation
    if timezone.now() >= reservation.reserved_until:
        return _end_preempted(reservation, "Preempted at the end of the reserved time.")
    if offer_take_capacity(offer_id=reservation.offer_id, units=reservation.units):
        return reservation_transition(
            reservation_id=reservation_id,
            to=S.PENDING,
            message="Preempted: relaunching on the same offer.",
            **_fresh_placement(),
        )
    offers = failover_offers(
        reservation=reservation,
        price_limit=reservation_price_limit(reservation=reservation),
        attempts=[],
    )
    moved = _move_to_first_free(reservation, offers, "Preempted; its offer has no capacity.")
    if moved is not None:
        return moved
    return _end_preempted(
        reservation, "Preempted; no offer left within the price limit to relaunch on."
    )


def _fresh_placement() -> dict:
    return {"instance_id": "", "connection": {}, "running_since": None, "ended_at": None}


def _end_preempted(reservation: Reservation, reason: str) -> Reservation:
    # ended_at stays the preemption time: usage stopped there.
    return reservation_transition(
        reservation_id=reservation.pk, to=S.TERMINATED, message=reason, failure_reason=reason
    )


def _move_to_first_free(reservation: Reservation, offers, reason: str) -> Reservation | None:
    for offer in offers[:MAX_CANDIDATES_PER_MOVE]:
        # Another buyer may take the last units between the query and here: the conditional
        # UPDATE decides, and the next candidate is tried.
        if offer_take_capacity(offer_id=offer.pk, units=offer.units):
            return _move(reservation, offer, reason)
    return None


def _move(reservation: Reservation, offer: Offer, reason: str) -> Reservation:
    old_offer, old_price = reservation.offer, reservation.price_per_hour
    new_price: Decimal = offer.total_price
    if reservation.status in CAPACITY_HOLDING_STATUSES:
        offer_return_capacity(offer_id=old_offer.pk, units=reservation.units)
    changed = new_price != old_price
    where = f"offer {offer.pk} ({offer.provider.slug} {offer.sku} {offer.region or '-'})"
    price = f"{new_price}/h (was {old_price}/h)" if changed else f"the same {new_price}/h"
    limit = reservation_price_limit(reservation=reservation)
    return reservation_transition(
        reservation_id=reservation.pk,
        to=S.PENDING,
        message=f"{reason} Failing over to {where} at {price}.",
        data={
            "failover": {
                "from_offer": old_offer.pk,
                "to_offer": offer.pk,
                "old_price_per_hour": str(old_price),
                "new_price_per_hour": str(new_price),
                "price_changed": changed,
                "max_price_per_hour": str(limit),
            }
        },
        offer=offer,
        units=offer.units,
        price_per_hour=new_price,
        currency=offer.currency,
        **_fresh_placement(),
    )


def _failure_history(reservation: Reservation, reason: str, attempts: list[LaunchAttempt]) -> str:
    tried = "; ".join(
        f"#{a.number} offer {a.offer_id} {a.offer.sku}@{a.offer.region or '-'}: "
        f"{a.get_outcome_display().lower()}{f' ({a.scope})' if a.scope else ''}"
        for a in attempts
    )
    limit = reservation_price_limit(reservation=reservation)
    offer = reservation.offer
    if len(attempts) >= MAX_LAUNCH_ATTEMPTS:
        why = f"Gave up after {len(attempts)} attempts"
    else:
        wanted = f"{reservation.gpus}x {offer.gpu.name if offer.gpu else 'GPU'} {offer.pricing}"
        why = f"No other {wanted} offer within {limit} {reservation.currency}/h"
    return f"{reason} Tried: {tried}. {why}."
