"""Reserving a quote: every leg of its plan at the price the quote locked, all or nothing.
The API (`POST /api/v1/reservations/ {"quote"}`) and the quote page both reserve this way."""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone

from common.errors import DomainError
from marketplace.models import Quote, Reservation
from marketplace.quoting.storage import quote_for_org
from marketplace.services.reservations import (
    PricedLeg,
    ReservationRequest,
    leg_idempotency_key,
    reservations_create_for_plan,
)


def reservations_create_from_quote(
    *,
    org,
    user,
    quote_id,
    idempotency_key: str = "",
    auto_relaunch: bool = False,
    max_price_per_hour: Decimal | None = None,
) -> tuple[list[Reservation], bool]:
    """Returns (reservations, created): one per leg, in the quote's order. Another
    organization's quote is not_found; one past its price lock is quote_expired."""
    quote = quote_for_org(org=org, quote_id=quote_id)
    if quote.expires_at <= timezone.now():
        raise DomainError(
            "quote_expired",
            "The quote's price lock has expired; ask for a new quote.",
        )
    legs = _quote_legs(quote, idempotency_key, auto_relaunch, max_price_per_hour)
    return reservations_create_for_plan(org=org, user=user, quote=quote, legs=legs)


def _quote_legs(
    quote: Quote, idempotency_key: str, auto_relaunch: bool, max_price_per_hour: Decimal | None
) -> list[tuple[ReservationRequest, PricedLeg]]:
    """The quote's legs as reservation requests, each at what the quote priced for it."""
    single = len(quote.legs) == 1
    return [
        (
            ReservationRequest(
                offer_id=int(leg["offer"]),
                gpus=int(leg["gpus"]),
                hours=quote.hours,
                idempotency_key=leg_idempotency_key(idempotency_key, number),
                # A buyer's limit is for one reservation; the legs of a split plan each get
                # the default limit (their own locked price + 25%).
                max_price_per_hour=max_price_per_hour if single else None,
                auto_relaunch=auto_relaunch,
            ),
            PricedLeg.of_quote_leg(leg),
        )
        for number, leg in enumerate(quote.legs, start=1)
    ]
