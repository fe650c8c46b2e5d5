"""Offer reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import QuerySet

from marketplace.models import GpuModel, Offer, OfferStatus, Provider

LISTED_BY_DEFAULT = (OfferStatus.ACTIVE, OfferStatus.STALE)


def offers_visible() -> QuerySet[Offer]:
    return Offer.objects.select_related("provider", "gpu")


def offers_default_listing() -> QuerySet[Offer]:
    """Active and stale offers (suspect ones included, flagged); withdrawn only on request."""
    return offers_visible().filter(status__in=LISTED_BY_DEFAULT)


def gpu_models() -> QuerySet[GpuModel]:
    return GpuModel.objects.all()


def providers_for_org(*, org) -> QuerySet[Provider]:
    return Provider.objects.filter(org=org)


@dataclass(frozen=True)
class PricePoint:
    observed_at: datetime  # from then on, until the next point
    price_per_hour: Decimal
    currency: str


def offer_price_history(*, offer: Offer) -> list[PricePoint]:
    """An offer's prices, oldest first. Points are stored only when a price changes (the
    first change stores the listing price too, at the offer's creation): an offer whose
    price never changed has none, and its history is its price since it was listed."""
    stored = offer.price_history.order_by("observed_at", "id")
    points = [
        PricePoint(p.observed_at, p.price_per_hour, p.currency)
        for p in stored.only("observed_at", "price_per_hour", "currency")
    ]
    return points or [PricePoint(offer.created_at, offer.price_per_hour, offer.currency)]
