"""The home page's figures: active offers, their providers and the cheapest GPU-hour."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.core.cache import cache
from django.db.models import Count, Min

from marketplace.models import Offer, OfferStatus

# Counting a million offers takes a scan of them all (about a second): the figures are kept
# this long, so that a busy home page costs one count a minute, not one per visit.
CACHE_SECONDS = 60
CACHE_KEY = "catalog-summary-v1"


@dataclass(frozen=True)
class CatalogSummary:
    offers: int
    providers: int
    cheapest_gpu_hour: Decimal | None  # None while no offer is active


def catalog_summary() -> CatalogSummary:
    """Active offers, the providers that have one, the cheapest price per GPU-hour among them
    (cached `CACHE_SECONDS`)."""
    summary = cache.get(CACHE_KEY)
    if summary is None:
        summary = _count_active_offers()
        cache.set(CACHE_KEY, summary, CACHE_SECONDS)
    return summary


def _count_active_offers() -> CatalogSummary:
    stats = Offer.objects.filter(status=OfferStatus.ACTIVE).aggregate(
        offers=Count("id"),
        providers=Count("provider_id", distinct=True),
        cheapest=Min("price_per_gpu_hour"),
    )
    return CatalogSummary(stats["offers"], stats["providers"], stats["cheapest"])
