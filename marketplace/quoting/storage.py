"""Quotes as stored: a Quote row per plan, with the breakdown a person can check the total
against by hand (docs/quotes.md), held until `expires_at`; and reading one back."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from common.errors import DomainError
from common.money import quantize_rate
from common.time import iso_z
from marketplace.models import Offer, Quote
from marketplace.quoting.costs import COMPONENTS, FORMULAS, LegCost
from marketplace.quoting.plans import Leg, PricedPlan, Pricing
from marketplace.quoting.request import QuoteRequest


def quote_for_org(*, org, quote_id) -> Quote:
    """The organization's quote; another's, or none, is not_found."""
    quote = Quote.objects.filter(pk=quote_id, org=org).first()
    if quote is None:
        raise DomainError("not_found", "No such quote.")
    return quote


def quotes_for_org(*, org, quote_ids: list[str]) -> list[Quote]:
    """The organization's quotes of these ids, in that order; others' are left out."""
    by_id = {str(quote.pk): quote for quote in Quote.objects.filter(org=org, pk__in=quote_ids)}
    return [by_id[quote_id] for quote_id in quote_ids if quote_id in by_id]


def quotes_store(
    *, org, request: QuoteRequest, pricing: Pricing, plans: list[PricedPlan]
) -> list[Quote]:
    if not plans:
        return []
    expires_at = timezone.now() + timedelta(seconds=settings.QUOTE_TTL_SECONDS)
    observed = _observed_at({leg.offer.id for plan in plans for leg in plan.legs})
    quotes = [
        Quote(
            org=org,
            request=request.as_json(),
            hours=request.hours,
            total=plan.total,
            currency=request.currency,
            breakdown=plan_breakdown(plan, pricing, request)
            | {"prices_observed_at": iso_z(min(observed[leg.offer.id] for leg in plan.legs))},
            legs=_stored_legs(plan, pricing),
            expires_at=expires_at,
        )
        for plan in plans
    ]
    return Quote.objects.bulk_create(quotes)


def _observed_at(offer_ids: set[int]) -> dict:
    """When each offer's price was last confirmed (a sync, or its provider)."""
    return dict(Offer.objects.filter(pk__in=offer_ids).values_list("pk", "observed_at"))


def _stored_legs(plan: PricedPlan, pricing: Pricing) -> list[dict]:
    """What a reservation from the quote takes: each leg's offer, size and locked price."""
    return [
        {
            "offer": leg.offer.id,
            "gpus": leg.gpus,
            "units": leg.units,
            "price_per_hour": str(cost.price_per_hour),
            **_priced_extras(leg, cost, pricing),
            "subtotal": str(cost.subtotal(pricing.usage.currency)),
        }
        for leg, cost in zip(plan.legs, plan.costs, strict=True)
    ]


def _priced_extras(leg: Leg, cost: LegCost, pricing: Pricing) -> dict:
    """What the reservation keeps besides the price, so that its invoice bills what the
    quote priced: boot time, disk and egress and their rates."""
    rates = pricing.rates[leg.offer.provider_id]
    return {
        "boot_seconds": rates.boot_seconds,
        "disk_gb": _plain(pricing.usage.disk_gb),
        "disk_price_per_hour": str(cost.disk_price_per_hour),
        "egress_gb": str(cost.egress_gb),
        "egress_price_per_gb": str(rates.egress_price_per_gb),
    }


def plan_breakdown(plan: PricedPlan, pricing: Pricing, request: QuoteRequest) -> dict:
    """Every figure a person needs to check the total by hand (docs/quotes.md)."""
    legs = [
        _leg_breakdown(leg, cost, pricing) for leg, cost in zip(plan.legs, plan.costs, strict=True)
    ]
    currency = request.currency
    amounts = [cost.amounts(currency) for cost in plan.costs]
    sums = {
        name: str(sum((leg_amounts[name] for leg_amounts in amounts), Decimal(0)))
        for name in COMPONENTS
    }
    breakdown = {
        "objective": request.objective,
        "currency": request.currency,
        "hours": _plain(request.hours),
        "disk_gb": _plain(request.disk_gb),
        "egress_gb": _plain(request.egress_gb),
        "gpus": plan.gpus,
        "legs": legs,
        **sums,
        "total_exact": str(quantize_rate(plan.total_exact)),
        "total": str(plan.total),
        "formulas": FORMULAS,
    }
    if plan.cost_per_work is not None:
        breakdown["work_a100_hours"] = _plain(plan.work_gpu_hours)
        breakdown["cost_per_work"] = str(plan.cost_per_work)
    return breakdown


def _leg_breakdown(leg: Leg, cost, pricing: Pricing) -> dict:
    offer, rates = leg.offer, pricing.rates[leg.offer.provider_id]
    facts = pricing.gpus.get(offer.gpu_id)
    throughput = facts.relative_throughput if facts else None
    amounts = cost.amounts(pricing.usage.currency)
    return {
        "offer": offer.id,
        "provider": rates.slug,
        "sku": offer.sku,
        "gpu": facts.name if facts else None,
        "region": offer.region,
        "pricing": offer.pricing,
        "units": leg.units,
        "gpus": leg.gpus,
        "offer_price_per_hour": str(offer.price_per_hour),
        "price_per_hour": str(cost.price_per_hour),
        "boot_seconds": rates.boot_seconds,
        "disk_price_per_gb_month": str(rates.disk_price_per_gb_month),
        "egress_price_per_gb": str(rates.egress_price_per_gb),
        "disk_price_per_hour": str(cost.disk_price_per_hour),
        "egress_gb": str(cost.egress_gb),
        "relative_throughput": None if throughput is None else str(throughput),
        **{name: str(amount) for name, amount in amounts.items()},
        "subtotal": str(sum(amounts.values(), Decimal(0))),
    }


def _plain(value: Decimal) -> str:
    """24.0000 -> "24", 0.5000 -> "0.5" (never "2.4E+1")."""
    return format(value.normalize(), "f")
