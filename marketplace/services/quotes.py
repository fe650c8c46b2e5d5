"""Quotes: the cheapest suitable plans for a request, all-in, held for a short time.

    result = quote_create(org=org, request=QuoteRequest(gpu="H100:8", hours=Decimal(24)))
    result.quotes      # stored Quote rows, best first (by the objective)
    result.excluded    # {"stale": 3, "suspect": 1, ...}: offers left out and why

Single-offer plans are found exactly: quotable offers are read in ascending price order (or
price per unit of work), a page at a time, and reading stops once no unread offer could beat
the plans in hand (a lower bound on the all-in cost of anything dearer). When no single offer
fits and the buyer allows it, plans split across several offers are built greedily from the
cheapest offers per GPU (bounded work). Formulas and defaults: docs/quotes.md.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from marketplace.models import Quote
from marketplace.money import round_amount
from marketplace.search import (
    CatalogResolver,
    DatabaseResolver,
    QueryError,
    Requirement,
    compile_filter,
    parse_requirements,
)
from marketplace.selectors.catalog import query_error_to_api
from marketplace.selectors.quotes import (
    OfferStream,
    gpu_facts,
    key_per_work,
    quotable_offers,
    quote_exclusions,
    reservable_provider_rates,
)
from marketplace.services.quote_costs import FORMULAS, CheapestExtras, Usage
from marketplace.services.quote_plans import (
    COST_PER_WORK,
    TOTAL_COST,
    BestPlans,
    Leg,
    PricedPlan,
    Pricing,
    split_groups,
    split_plan,
)

DEFAULT_LIMIT = 5
FIRST_PAGE = 64
NEXT_PAGES = 256
# Bounds on the work of one quote: offers read for single-offer plans, and the cheapest
# offers per GPU that split plans are built from.
MAX_SINGLE_OFFERS_READ = 4096
SPLIT_CANDIDATES = 512
# Components are kept to 6 places each, so a bound computed from unrounded figures may sit a
# few millionths above a real total: stop only when clear of that.
BOUND_SLACK = Decimal("0.00001")


@dataclass(frozen=True)
class QuoteRequest:
    gpu: str
    hours: Decimal
    filter: str = ""
    pricing: tuple[str, ...] = ("on_demand",)
    objective: str = TOTAL_COST
    disk_gb: Decimal = Decimal(0)
    egress_gb: Decimal = Decimal(0)
    max_total: Decimal | None = None
    allow_split: bool = False
    same_region: bool = True
    currency: str = "USD"
    limit: int = DEFAULT_LIMIT

    def as_json(self) -> dict:
        data = asdict(self)
        return {k: str(v) if isinstance(v, Decimal) else v for k, v in data.items()} | {
            "pricing": list(self.pricing)
        }


@dataclass(frozen=True)
class QuoteResult:
    quotes: list[Quote]
    excluded: dict[str, int]


def quote_create(
    *, org, request: QuoteRequest, resolver: CatalogResolver | None = None
) -> QuoteResult:
    """Price the request against the catalog, store the best plans as quotes, return them.

    Bad `gpu` or `filter` text raises ApiError 400 (invalid_gpu_spec / invalid_query, with
    the position and a hint)."""
    resolver = resolver or DatabaseResolver()
    requirement, base = _parse(request, resolver)
    rates = reservable_provider_rates()
    usage = Usage(request.hours, request.disk_gb, request.egress_gb, request.currency)
    pricing = Pricing(usage, request.objective, rates, gpu_facts())
    single_match = base & requirement.to_q(resolver, include_count=True)
    plans = _best_single_offer_plans(request, pricing, single_match)
    considered, over_total = single_match, None
    if request.max_total is not None:
        over_total = (usage, request.max_total)
    if not plans and request.allow_split:
        # The counts then describe the offers a split was built from; over_max_total only
        # makes sense for offers that fit alone.
        considered, over_total = base & requirement.to_q(resolver, include_count=False), None
        plans = _best_split_plans(request, pricing, requirement, considered)
    excluded = quote_exclusions(
        match=considered,
        provider_ids=rates.keys(),
        workless_gpu_ids=_workless_gpu_ids(pricing) if _per_work(request) else None,
        over_total=over_total,
    )
    excluded.setdefault("no_throughput", 0)
    excluded.setdefault("over_max_total", 0)
    return QuoteResult(_store(org, request, pricing, plans), excluded)


def _parse(request: QuoteRequest, resolver: CatalogResolver) -> tuple[Requirement, Q]:
    try:
        requirement = parse_requirements(request.gpu)
    except QueryError as error:
        raise _field_error(error, "gpu") from None
    try:
        compiled = compile_filter(request.filter, resolver=resolver)
    except QueryError as error:
        raise _field_error(error, "filter") from None
    base = compiled.q & Q(pricing__in=list(request.pricing), currency=request.currency)
    return requirement, base


def _field_error(error: QueryError, field: str):
    api_error = query_error_to_api(error)
    api_error.extra["field"] = field
    return api_error


def _per_work(request: QuoteRequest) -> bool:
    return request.objective == COST_PER_WORK


def _throughput_ids(pricing: Pricing) -> dict[int, Decimal]:
    return {i: f.relative_throughput for i, f in pricing.gpus.items() if f.relative_throughput}


def _workless_gpu_ids(pricing: Pricing) -> list[int]:
    return [i for i, facts in pricing.gpus.items() if not facts.relative_throughput]


def _candidate_stream(request, pricing, match: Q, *, per_gpu: bool, page_size: int):
    offers = quotable_offers(match=match, provider_ids=pricing.rates.keys())
    if _per_work(request):
        throughput = _throughput_ids(pricing)
        return OfferStream(
            offers.filter(gpu_id__in=sorted(throughput)),
            key_per_work(throughput),
            page_size=page_size,
        )
    return OfferStream(
        offers, "price_per_gpu_hour" if per_gpu else "price_per_hour", page_size=page_size
    )


def _best_single_offer_plans(request: QuoteRequest, pricing: Pricing, match: Q):
    stream = _candidate_stream(request, pricing, match, per_gpu=False, page_size=FIRST_PAGE)
    extras = CheapestExtras.of(list(pricing.rates.values()), pricing.usage)
    best, read = BestPlans(request.limit), 0
    while True:
        page = stream.next_page()
        read += len(page)
        for offer in page:
            _consider(best, pricing.price([Leg(offer, 1)]), request)
        if stream.exhausted or read >= MAX_SINGLE_OFFERS_READ:
            break
        if _nothing_unread_can_win(stream.last_key, request, pricing, extras, best):
            break
        stream.page_size = NEXT_PAGES
    return best.sorted()


def _nothing_unread_can_win(key, request, pricing, extras: CheapestExtras, best) -> bool:
    usage = pricing.usage
    if _per_work(request):
        # An offer at `key` dollars per A100-hour of compute pays at least the cheapest boot
        # time on top; disk and egress only add.
        floor = key * extras.billed_hours(usage) / usage.hours - BOUND_SLACK
        worst = best.worst()
        return best.full and floor > worst.cost_per_work
    floor = extras.single_offer_total_floor(key, usage) - BOUND_SLACK
    if request.max_total is not None and floor > request.max_total:
        return True
    return best.full and floor > best.worst().total_exact


def _best_split_plans(request, pricing: Pricing, requirement: Requirement, match: Q):
    count_min, count_max = requirement.count_min or 1, requirement.count_max
    stream = _candidate_stream(request, pricing, match, per_gpu=True, page_size=SPLIT_CANDIDATES)
    best = BestPlans(request.limit)
    for group in split_groups(stream.next_page(), same_region=request.same_region):
        legs = split_plan(
            group,
            count_min=count_min,
            count_max=count_max,
            unit_rate=lambda offer: pricing.unit_rate(offer, count_min),
        )
        if legs:
            _consider(best, pricing.price(legs), request)
    return best.sorted()


def _consider(best: BestPlans, plan: PricedPlan, request: QuoteRequest) -> None:
    if request.max_total is not None and plan.total > request.max_total:
        return
    if _per_work(request) and plan.cost_per_work is None:
        return
    best.offer(plan)


# --- storing and showing ------------------------------------------------------------------


def _store(org, request: QuoteRequest, pricing: Pricing, plans: list[PricedPlan]) -> list[Quote]:
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
            legs=[
                {
                    "offer": leg.offer.id,
                    "gpus": leg.gpus,
                    "units": leg.units,
                    "price_per_hour": str(cost.price_per_hour),
                }
                for leg, cost in zip(plan.legs, plan.costs, strict=True)
            ],
            expires_at=expires_at,
        )
        for plan in plans
    ]
    return Quote.objects.bulk_create(quotes)


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


def quote_to_dict(quote: Quote) -> dict:
    breakdown = quote.breakdown
    described = {leg["offer"]: leg for leg in breakdown.get("legs", [])}
    return {
        "id": str(quote.pk),
        "expires_at": _iso(quote.expires_at),
        "total": str(round_amount(quote.total, quote.currency)),
        "currency": quote.currency,
        "objective": breakdown.get("objective"),
        "cost_per_work": breakdown.get("cost_per_work"),
        "gpus": breakdown.get("gpus"),
        "hours": breakdown.get("hours"),
        "legs": [_leg_view(leg, described.get(leg["offer"], {})) for leg in quote.legs],
        "breakdown": breakdown,
    }


def _leg_view(leg: dict, described: dict) -> dict:
    extra = ("provider", "sku", "gpu", "region", "pricing")
    return {**leg, **{name: described.get(name) for name in extra}}


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
