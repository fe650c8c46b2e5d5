"""Offer search for the catalog API and pages.

Until the filter language lands (issue 4), `q` understands simple `field=value` terms.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q, QuerySet

from config.api_errors import ApiError
from marketplace.models import Offer
from marketplace.selectors.offers import offers_default_listing, offers_visible

SORTABLE = {
    "price": "price_per_hour",
    "gpu_price": "price_per_gpu_hour",
    "gpus": "gpu_count",
    "vram": "gpu_memory_gb",
    "vcpus": "vcpus",
    "ram": "memory_gb",
    "disk": "disk_gb",
    "available": "available",
    "observed": "observed_at",
}
DEFAULT_SORT = [("price_per_gpu_hour", False), ("id", False)]


@dataclass
class OfferSearch:
    queryset: QuerySet[Offer]
    order: list[tuple[str, bool]]  # (model field, descending); always ends with id

    @staticmethod
    def value_of(offer: Offer, field: str):
        return getattr(offer, field)


def parse_sort(sort: str) -> list[tuple[str, bool]]:
    if not sort:
        return list(DEFAULT_SORT)
    order = []
    for key in (k.strip() for k in sort.split(",") if k.strip()):
        descending = key.startswith("-")
        name = key.lstrip("-")
        if name not in SORTABLE:
            raise ApiError(
                "invalid_sort", f"Cannot sort by {name!r}. Sortable: {', '.join(SORTABLE)}."
            )
        order.append((SORTABLE[name], descending))
    return order + [("id", False)]


SIMPLE_FIELDS = {
    "gpu": "gpu__name__iexact",
    "provider": "provider__slug",
    "region": "region",
    "pricing": "pricing",
    "status": "status",
    "country": "country__iexact",
    "continent": "continent__iexact",
}


def _simple_filter(query: str) -> tuple[Q, bool]:
    condition, mentions_status = Q(), False
    for term in query.split():
        field, sep, value = term.partition("=")
        if not sep or field not in SIMPLE_FIELDS:
            raise ApiError(
                "invalid_query", f"Cannot understand {term!r}.", position=query.find(term)
            )
        mentions_status |= field == "status"
        condition &= Q(**{SIMPLE_FIELDS[field]: value})
    return condition, mentions_status


def offer_search(*, query: str, sort: str) -> OfferSearch:
    condition, mentions_status = _simple_filter(query)
    base = offers_visible() if mentions_status else offers_default_listing()
    order = parse_sort(sort)
    queryset = base.filter(condition).order_by(*[("-" if d else "") + f for f, d in order])
    return OfferSearch(queryset=queryset, order=order)


def offer_to_dict(offer: Offer) -> dict:
    return {
        "id": offer.pk,
        "provider": offer.provider.slug,
        "sku": offer.sku,
        "gpu": offer.gpu.name if offer.gpu else None,
        "gpu_vendor": offer.gpu.vendor if offer.gpu else None,
        "gpu_count": offer.gpu_count,
        "gpu_memory_gb": str(offer.gpu_memory_gb),
        "vcpus": str(offer.vcpus),
        "memory_gb": str(offer.memory_gb),
        "disk_gb": str(offer.disk_gb),
        "region": offer.region,
        "zone": offer.zone,
        "country": offer.country,
        "continent": offer.continent,
        "pricing": offer.pricing,
        "price_per_hour": str(offer.price_per_hour),
        "price_per_gpu_hour": str(offer.price_per_gpu_hour),
        "currency": offer.currency,
        "available": offer.available,
        "reliability": None if offer.reliability is None else str(offer.reliability),
        "interconnect": offer.interconnect,
        "observed_at": offer.observed_at.isoformat().replace("+00:00", "Z"),
        "status": offer.status,
        "suspect": offer.suspect,
        "suspect_reason": offer.suspect_reason,
    }
