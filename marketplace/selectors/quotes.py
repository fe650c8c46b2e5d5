"""Reads for quotes: quotable offers in rank order, a page at a time, and the counts of the
offers that were left out and why."""

from __future__ import annotations

from collections.abc import Collection
from decimal import Decimal
from typing import NamedTuple

from django.db.models import (
    Case,
    Count,
    DecimalField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.expressions import Combinable
from django.db.models.functions import Cast, Round
from django.db.models.lookups import GreaterThan

from marketplace.models import GpuModel, Offer, OfferStatus, Provider
from marketplace.services.quote_costs import HOURS_PER_MONTH, ProviderRates, Usage

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
)
_MONEY = DecimalField(max_digits=30, decimal_places=12)


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
    key: Decimal  # the stream's rank key


class GpuFacts(NamedTuple):
    name: str
    relative_throughput: Decimal | None


def reservable_provider_rates() -> dict[int, ProviderRates]:
    """Providers whose offers can be reserved here: active, with a launcher."""
    rows = Provider.objects.filter(is_active=True).exclude(launcher="")
    return {
        p.pk: ProviderRates(
            provider_id=p.pk,
            slug=p.slug,
            disk_price_per_gb_month=p.disk_price_per_gb_month,
            egress_price_per_gb=p.egress_price_per_gb,
            boot_seconds=p.boot_seconds,
        )
        for p in rows.only(
            "id", "slug", "disk_price_per_gb_month", "egress_price_per_gb", "boot_seconds"
        )
    }


def gpu_facts() -> dict[int, GpuFacts]:
    return {
        gpu.pk: GpuFacts(gpu.name, gpu.relative_throughput)
        for gpu in GpuModel.objects.only("id", "name", "memory_gb", "bf16_tflops")
    }


def quotable_offers(*, match: Q, provider_ids: Collection[int]) -> QuerySet[Offer]:
    return Offer.objects.filter(match, QUOTABLE, provider_id__in=sorted(provider_ids))


class OfferStream:
    """Offers of a queryset in ascending `key` order, a page at a time.

    Keyset paging on (key, id): each page is one indexed range read however far the caller
    goes, and the caller decides after each page whether anything further could still win.
    """

    def __init__(self, queryset: QuerySet[Offer], key: Combinable | str, *, page_size: int):
        self.queryset = queryset.annotate(quote_key=F(key) if isinstance(key, str) else key)
        self.page_size = page_size
        self.exhausted = False
        self.last_key: Decimal | None = None
        self._last_id: int | None = None

    def next_page(self) -> list[Candidate]:
        queryset = self.queryset
        if self._last_id is not None:
            queryset = queryset.filter(
                Q(quote_key__gt=self.last_key) | Q(quote_key=self.last_key, id__gt=self._last_id)
            )
        rows = queryset.order_by("quote_key", "id").values_list(*CANDIDATE_FIELDS, "quote_key")
        page = [Candidate(*row) for row in rows[: self.page_size]]
        self.exhausted = len(page) < self.page_size
        if page:
            self.last_key, self._last_id = page[-1].key, page[-1].id
        return page


def key_per_work(throughput: dict[int, Decimal]) -> Combinable:
    """price per GPU-hour / the GPU's relative throughput: dollars per A100-hour of work."""
    return Case(
        *(
            When(gpu_id=gpu_id, then=F("price_per_gpu_hour") / Value(value, output_field=_MONEY))
            for gpu_id, value in sorted(throughput.items())
        ),
        default=None,
        output_field=_MONEY,
    )


def single_offer_total(usage: Usage) -> Combinable:
    """The all-in total of one instance, in SQL, to count offers above max_total."""
    billed_hours = ExpressionWrapper(
        Value(usage.hours, output_field=_MONEY)
        # Cast: an integer over an integer-looking literal would divide as integers.
        + Cast("provider__boot_seconds", _MONEY) / Value(Decimal(3600), output_field=_MONEY),
        output_field=_MONEY,
    )
    disk_share = usage.disk_gb * usage.hours / HOURS_PER_MONTH
    return ExpressionWrapper(
        F("price_per_hour") * billed_hours
        + F("provider__disk_price_per_gb_month") * Value(disk_share, output_field=_MONEY)
        + F("provider__egress_price_per_gb") * Value(usage.egress_gb, output_field=_MONEY),
        output_field=_MONEY,
    )


def quote_exclusions(
    *,
    match: Q,
    provider_ids: Collection[int],
    workless_gpu_ids: Collection[int] | None = None,
    over_total: tuple[Usage, Decimal] | None = None,
) -> dict[str, int]:
    """How many listed offers that match were left out, by the first reason that applies:
    stale, suspect, unavailable (no capacity), not_reservable (listed for comparison only),
    no_throughput (cost_per_work without a throughput figure), over_max_total (fits alone
    but its all-in total is above max_total). One aggregate query."""
    fresh = Q(status=OfferStatus.ACTIVE)
    clean = fresh & Q(suspect=False)
    stocked = clean & Q(available__gt=0)
    reservable = Q(provider_id__in=sorted(provider_ids))
    counts = {
        "stale": Count("id", filter=Q(status=OfferStatus.STALE)),
        "suspect": Count("id", filter=fresh & Q(suspect=True)),
        "unavailable": Count("id", filter=clean & Q(available=0)),
        "not_reservable": Count("id", filter=stocked & ~reservable),
    }
    quotable = stocked & reservable
    if workless_gpu_ids is not None:
        workless = Q(gpu_id__isnull=True) | Q(gpu_id__in=sorted(workless_gpu_ids))
        counts["no_throughput"] = Count("id", filter=quotable & workless)
        quotable &= ~workless
    if over_total is not None:
        usage, max_total = over_total
        total = Round(single_offer_total(usage), 2, output_field=_MONEY)
        above = Q(GreaterThan(total, Value(max_total, output_field=_MONEY)))
        counts["over_max_total"] = Count("id", filter=quotable & above)
    rows = Offer.objects.filter(match, status__in=LISTED)
    # Aliased: an aggregate may not share a name with a field (suspect, ...).
    totals = rows.aggregate(**{f"n_{name}": count for name, count in counts.items()})
    return {name: totals[f"n_{name}"] or 0 for name in counts}
