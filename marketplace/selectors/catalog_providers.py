"""The providers of the catalog, as a buyer sees them: whether their offers can be reserved
here and why not, and how fresh their prices are."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache
from django.db.models import Count, Max

from marketplace.models import Offer, Provider
from marketplace.models.offers import LISTED
from marketplace.reservability import why_not_reservable

# Counting a million offers per provider takes a scan: the listing is kept this long.
CACHE_SECONDS = 60
CACHE_KEY = "catalog-providers-v1"


@dataclass(frozen=True)
class CatalogProvider:
    slug: str
    name: str
    kind: str
    reservable: bool
    why_not_reservable: str
    offers: int  # listed: active and stale
    last_synced_at: datetime  # its newest price: a price sync moves every offer it writes

    def data_age_seconds(self, now: datetime) -> int:
        return max(0, int((now - self.last_synced_at).total_seconds()))


def catalog_providers() -> list[CatalogProvider]:
    """Every provider with listed offers, by slug (cached `CACHE_SECONDS`)."""
    rows = cache.get(CACHE_KEY)
    if rows is None:
        rows = _providers_with_offers()
        cache.set(CACHE_KEY, rows, CACHE_SECONDS)
    return rows


def _providers_with_offers() -> list[CatalogProvider]:
    stats = (
        Offer.objects.filter(LISTED)
        .values("provider_id")
        .annotate(offers=Count("id"), newest=Max("observed_at"))
        .order_by()
    )
    by_provider = {row["provider_id"]: row for row in stats}
    providers = Provider.objects.filter(pk__in=by_provider).order_by("slug")
    listed = []
    for provider in providers:
        why_not = why_not_reservable(provider)
        row = by_provider[provider.pk]
        listed.append(
            CatalogProvider(
                slug=provider.slug,
                name=provider.name,
                kind=provider.kind,
                reservable=not why_not,
                why_not_reservable=why_not,
                offers=row["offers"],
                last_synced_at=row["newest"],
            )  # fmt: skip
        )
    return listed
