"""The offers a quote is made of, as the engine reads them (`Candidate` rows), and the facts
it prices them with: the reservable providers' rates and the GPU models' figures."""

from __future__ import annotations

from collections.abc import Collection
from decimal import Decimal
from typing import NamedTuple

from django.db.models import Q, QuerySet

from marketplace.models import GpuModel, Offer, OfferStatus, Provider
from marketplace.quoting.costs import ProviderRates
from marketplace.reservability import reservable_q

LISTED = (OfferStatus.ACTIVE, OfferStatus.STALE)
# Quotable: fresh (not stale), not flagged as an outlier price, with capacity to reserve.
QUOTABLE = Q(status=OfferStatus.ACTIVE, suspect=False, available__gt=0)
CANDIDATE_FIELDS = (
    "id",
    "provider_id",
    "gpu_id",
    "gpu_count",
    "price_per_hour",
    "price_per_gpu_hour",
    "available",
    "region",
    "sku",
    "pricing",
    "currency",
    "status",
    "suspect",
)


class Candidate(NamedTuple):
    id: int
    provider_id: int
    gpu_id: int | None
    gpu_count: int
    price_per_hour: Decimal
    price_per_gpu_hour: Decimal
    available: int
    region: str
    sku: str
    pricing: str
    currency: str
    status: str
    suspect: bool
    key: Decimal  # the stream's rank key


class GpuFacts(NamedTuple):
    name: str
    relative_throughput: Decimal | None
    memory_gb: Decimal = Decimal(0)  # per GPU; every offer of the model records the same


def reservable_provider_rates() -> dict[int, ProviderRates]:
    """Providers whose offers can be reserved here (marketplace.reservability)."""
    rows = Provider.objects.filter(reservable_q())
    return {
        p.pk: ProviderRates.of(p)
        for p in rows.only(
            "id", "slug", "disk_price_per_gb_month", "egress_price_per_gb", "boot_seconds"
        )
    }


def gpu_facts() -> dict[int, GpuFacts]:
    return {
        gpu.pk: GpuFacts(gpu.name, gpu.relative_throughput, Decimal(gpu.memory_gb or 0))
        for gpu in GpuModel.objects.only("id", "name", "memory_gb", "bf16_tflops")
    }


def quotable_offers(*, match: Q, provider_ids: Collection[int]) -> QuerySet[Offer]:
    return Offer.objects.filter(match, QUOTABLE, provider_id__in=sorted(provider_ids))


def listed_offers(*, match: Q) -> QuerySet[Offer]:
    """Active and stale offers that match, suspect ones aside: what the quote engine reads,
    telling the quotable ones from those it leaves out (and counts) as it goes. Suspect
    prices sit at the very bottom of every price order, so reading them would cost a page
    per stream: they are counted apart (`exclusion_counts.count_suspect`)."""
    return Offer.objects.filter(match, status__in=LISTED, suspect=False)


def exclusion_reason(offer: Candidate, provider_ids: Collection[int]) -> str | None:
    """Why a listed offer cannot be quoted (the first reason that applies), or None."""
    if offer.status != OfferStatus.ACTIVE:
        return "stale"
    if offer.suspect:
        return "suspect"
    if offer.available <= 0:
        return "unavailable"
    if offer.provider_id not in provider_ids:
        return "not_reservable"
    return None
