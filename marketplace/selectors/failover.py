"""Where a reservation can go when its launch fails: offers for the same requirements,
within the buyer's price limit, minus what the failed attempts rule out."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import (
    DecimalField,
    ExpressionWrapper,
    F,
    IntegerField,
    Max,
    Q,
    QuerySet,
    Value,
)

from common.money import quantize_rate
from marketplace.models import (
    LaunchAttempt,
    LaunchOutcome,
    Offer,
    OfferStatus,
    Reservation,
)
from marketplace.reservability import reservable_q

# A buyer who set no `max_price_per_hour` accepts failover up to 25 % above the price locked
# at reservation: enough to reach the next offer in a typical catalog, not a blank cheque.
DEFAULT_PRICE_LIMIT_FACTOR = Decimal("1.25")


def default_price_limit(price_per_hour: Decimal) -> Decimal:
    return quantize_rate(price_per_hour * DEFAULT_PRICE_LIMIT_FACTOR)


def reservation_price_limit(*, reservation: Reservation) -> Decimal:
    if reservation.max_price_per_hour is not None:
        return reservation.max_price_per_hour
    return default_price_limit(reservation.price_per_hour)  # reservations older than the field


def attempts_in_current_placement(*, reservation: Reservation) -> QuerySet[LaunchAttempt]:
    """Attempts since the last successful launch: a relaunch after preemption starts afresh,
    and the attempt cap and the exclusions apply to one placement at a time."""
    succeeded = reservation.attempts.filter(outcome=LaunchOutcome.SUCCEEDED)
    last_success = succeeded.aggregate(n=Max("number"))["n"] or 0
    return reservation.attempts.filter(number__gt=last_success).select_related("offer")


def _ruled_out(attempt: LaunchAttempt) -> Q:
    """What a failed attempt says about other offers, from the scope of its error."""
    offer = attempt.offer
    if attempt.scope == "zone":
        return Q(provider_id=offer.provider_id, region=offer.region, zone=offer.zone)
    if attempt.scope == "region":
        return Q(provider_id=offer.provider_id, region=offer.region)
    if attempt.scope == "provider":
        return Q(provider_id=offer.provider_id)
    return Q(pk=offer.pk)


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def failover_offers(
    *, reservation: Reservation, price_limit: Decimal, attempts: list[LaunchAttempt]
) -> QuerySet[Offer]:
    """Offers that could carry the reservation instead, cheapest first: the same GPU model,
    the same number of GPUs in all (in whole instances), the same pricing model and currency;
    active, not suspect, launchable, with the capacity free, whole price within the limit.
    Each row carries `units` (instances needed) and `total_price` (per hour, all units)."""
    current = reservation.offer
    if current.gpu_id is None or reservation.gpus < 1:
        return Offer.objects.none()
    units = ExpressionWrapper(Value(reservation.gpus) / F("gpu_count"), output_field=IntegerField())
    total_price = ExpressionWrapper(
        F("price_per_hour") * F("units"), output_field=DecimalField(max_digits=20, decimal_places=6)
    )
    offers = (
        Offer.objects.filter(
            gpu_id=current.gpu_id,
            gpu_count__in=_divisors(reservation.gpus),
            pricing=current.pricing,
            currency=reservation.currency,
            status=OfferStatus.ACTIVE,
            suspect=False,
        )
        .filter(reservable_q("provider__"))
        .exclude(pk__in=[current.pk, *(a.offer_id for a in attempts)])
        .annotate(units=units)
        .annotate(total_price=total_price)
        .filter(available__gte=F("units"), total_price__lte=price_limit)
    )
    for attempt in attempts:
        if attempt.outcome != LaunchOutcome.SUCCEEDED:
            offers = offers.exclude(_ruled_out(attempt))
    return offers.select_related("provider").order_by("total_price", "id")
