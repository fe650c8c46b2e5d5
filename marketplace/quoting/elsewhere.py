"""The rest of the market beside a quote: the cheapest offers that fit the request as one
instance but cannot be reserved here, with what they would cost all-in and why not here.

A cost broker shows what the market charges, not only what it can sell: a buyer who sees a
catalog cloud 30 % cheaper knows what the quote is worth. Suspect prices are left out (they
are what a price sanity check found is not a price), as everywhere else a buyer is shown a
price.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Q
from django.utils import timezone

from marketplace.models import Offer, OfferStatus
from marketplace.quoting.candidates import LISTED, QUOTABLE
from marketplace.quoting.costs import ProviderRates, leg_cost, plan_total
from marketplace.quoting.request import QuoteWork
from marketplace.reservability import why_not_reservable
from marketplace.search.ast import Node

ELSEWHERE_LIMIT = 5
ELSEWHERE_FIELDS = (
    "id", "sku", "region", "pricing", "gpu_count", "price_per_hour", "price_per_gpu_hour",
    "available", "status", "observed_at", "currency", "gpu__name", "provider__slug",
    "provider__disk_price_per_gb_month", "provider__egress_price_per_gb",
    "provider__boot_seconds", "provider__launcher", "provider__is_active",
)  # fmt: skip


@dataclass(frozen=True)
class ElsewhereOffer:
    offer: Offer
    total: Decimal  # all-in, billed as a plan here would be (the provider's published rates)
    reason: str  # not_reservable | stale | unavailable
    detail: str


def market_elsewhere(work: QuoteWork, tree: Node, *, now: datetime | None = None) -> list:
    """The cheapest `ELSEWHERE_LIMIT` offers of the request's match (GPU spec with its count,
    filter, pricing models, currency) that a quote cannot use, cheapest per GPU-hour first:
    the order of the catalog's per-GPU price indexes."""
    now = now or timezone.now()
    reservable = QUOTABLE & Q(provider_id__in=sorted(work.pricing.rates))
    offers = (
        Offer.objects.filter(work.match(tree), status__in=LISTED, suspect=False)
        .exclude(reservable)
        .select_related("provider", "gpu")
        .only(*ELSEWHERE_FIELDS)
        .order_by("price_per_gpu_hour", "id")[:ELSEWHERE_LIMIT]
    )
    return [_priced(work, offer, now) for offer in offers]


def _priced(work: QuoteWork, offer: Offer, now: datetime) -> ElsewhereOffer:
    provider = offer.provider
    rates = ProviderRates(
        provider_id=provider.pk,
        slug=provider.slug,
        disk_price_per_gb_month=provider.disk_price_per_gb_month,
        egress_price_per_gb=provider.egress_price_per_gb,
        boot_seconds=provider.boot_seconds,
    )
    cost = leg_cost(
        offer_price_per_hour=offer.price_per_hour, units=1, gpus=offer.gpu_count,
        plan_gpus=offer.gpu_count, rates=rates, usage=work.pricing.usage,
    )  # fmt: skip
    _, total = plan_total([cost], work.pricing.usage.currency)
    reason, detail = _why_not_here(offer, now)
    return ElsewhereOffer(offer=offer, total=total, reason=reason, detail=detail)


def _why_not_here(offer: Offer, now: datetime) -> tuple[str, str]:
    why_not = why_not_reservable(offer.provider)
    if why_not:
        return "not_reservable", why_not
    if offer.status != OfferStatus.ACTIVE:
        hours = int((now - offer.observed_at).total_seconds() // 3600)
        return "stale", f"Its price was last confirmed {hours} h ago: it may have changed."
    return "unavailable", "No capacity left at this price right now."
