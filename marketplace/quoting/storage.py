"""Quotes as stored: a Quote row per plan, with the breakdown a person can check the total
against by hand (docs/quotes.md), held until `expires_at`; and reading one back."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from common.errors import DomainError
from marketplace.models import Quote
from marketplace.quoting.costs import FORMULAS
from marketplace.quoting.plans import Leg, PricedPlan, Pricing
from marketplace.quoting.request import QuoteRequest


def quote_for_org(*, org, quote_id) -> Quote:
    """The organization's quote; another's, or none, is not_found."""
    quote = Quote.objects.filter(pk=quote_id, org=org).first()
    if quote is None:
        raise DomainError("not_found", "No such quote.")
    return quote


def quotes_store(
    *, org, request: QuoteRequest, pricing: Pricing, plans: list[PricedPlan]
) -> list[Quote]:
    if not plans:
        return []
    expires_at = timezone.now() + timedelta(seconds=settings.QUOTE_TTL_SECONDS)
    quotes = [
        Quote(
            org=org,
            request=request.as_json(),
            hours=request.hours,
            total=plan.total,
            currency=request.currency,
            breakdown=plan_breakdown(plan, pricing, request),
            legs=_stored_legs(plan),
            expires_at=expires_at,
        )
        for plan in plans
    ]
    return Quote.objects.bulk_create(quotes)


def _stored_legs(plan: PricedPlan) -> list[dict]:
    """What a reservation from the quote takes: each leg's offer, size and locked price."""
    return [
        {
            "offer": leg.offer.id,
            "gpus": leg.gpus,
            "units": leg.units,
            "price_per_hour": str(cost.price_per_hour),
        }
        for leg, cost in zip(plan.legs, plan.costs, strict=True)
    ]


def plan_breakdown(plan: PricedPlan, pricing: Pricing, request: QuoteRequest) -> dict:
    """Every figure a person needs to check the total by hand (docs/quotes.md)."""
    legs = [
        _leg_breakdown(leg, cost, pricing) for leg, cost in zip(plan.legs, plan.costs, strict=True)
    ]
    sums = {
        name: str(sum((getattr(cost, name) for cost in plan.costs), Decimal(0)))
        for name in ("compute", "boot", "disk", "egress")
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
        "total_exact": str(plan.total_exact),
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
        "relative_throughput": None if throughput is None else str(throughput),
        "compute": str(cost.compute),
        "boot": str(cost.boot),
        "disk": str(cost.disk),
        "egress": str(cost.egress),
        "subtotal": str(cost.subtotal),
    }


def _plain(value: Decimal) -> str:
    """24.0000 -> "24", 0.5000 -> "0.5" (never "2.4E+1")."""
    return format(value.normalize(), "f")
