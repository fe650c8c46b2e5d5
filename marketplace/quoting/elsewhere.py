"""The rest of the market beside a quote: the cheapest offers that fit the request as one
instance but cannot be reserved here, with what they would cost all-in and why not here.
Made of what the quote's own search read (`QuoteWork.not_reservable`).

A cost broker shows what the market charges, not only what it can sell: a buyer who sees a
catalog cloud 30 % cheaper knows what the quote is worth. Suspect prices are left out (they
are what a price sanity check found is not a price), as everywhere else a buyer is shown a
price.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from marketplace.models import Offer, OfferStatus
from marketplace.quoting.costs import ProviderRates, leg_cost, plan_total
from marketplace.quoting.request import QuoteWork
from marketplace.reservability import why_not_reservable

ELSEWHERE_LIMIT = 5
ELSEWHERE_FIELDS = (
    "id", "sku", "region", "pricing", "gpu_count", "price_per_hour", "status",
    "observed_at", "currency", "gpu__name", "provider__slug",
    "provider__disk_price_per_gb_month", "provider__egress_price_per_gb",
    "provider__boot_seconds", "provider__launcher", "provider__is_active",
)  # fmt: skip


@dataclass(frozen=True)
class ElsewhereOffer:
    offer: Offer
    total: Decimal  # all-in, billed as a plan here would be (the provider's published rates)
    reason: str  # not_reservable | stale | unavailable
    detail: str


def market_elsewhere(work: QuoteWork, *, now: datetime | None = None) -> list[ElsewhereOffer]:
    """The `ELSEWHERE_LIMIT` cheapest (per instance-hour) of the fitting offers the quote's
    search read and could not use. The search reads in price order until nothing unread can
    beat its quotes, so every such offer cheaper than the quotes was read: no query of its
    own but one for the few it lists."""
    now = now or timezone.now()
    cheapest = sorted({o.id: o for o in work.not_reservable}.values(),
                      key=lambda o: (o.price_per_hour, o.id))[:ELSEWHERE_LIMIT]  # fmt: skip
    rows = Offer.objects.select_related("provider", "gpu").only(*ELSEWHERE_FIELDS)
    by_id = rows.in_bulk([o.id for o in cheapest])
    return [_priced(work, by_id[o.id], now) for o in cheapest if o.id in by_id]


def _priced(work: QuoteWork, offer: Offer, now: datetime) -> ElsewhereOffer:
    rates = ProviderRates.of(offer.provider)
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
