"""Quotes: the cheapest suitable plans for a request, all-in, held for a short time.

    result = quote_create(org=org, request=QuoteRequest(gpu="H100:8", hours=Decimal(24)))
    result.quotes      # stored Quote rows, best first (by the objective)
    result.excluded    # {"stale": 3, "suspect": 1, ...}: offers left out and why

Single-offer plans are found exactly: fitting offers are read in ascending price per
GPU-hour, a page at a time, in one stream per GPU model and pricing model where the request
allows (each stream an index range), and reading stops once a floor under the objective of
anything not read yet says it cannot beat the plans in hand. Offers read but not quotable are
counted by reason as they go. When no single offer fits and the buyer allows it, plans split
across several offers are built greedily (with an exact repair) from the cheapest offers per
GPU-hour, a bounded number of them. Formulas, defaults and rules: docs/quotes.md.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from common.money import round_amount
from marketplace.models import Quote
from marketplace.search import (
    CatalogResolver,
    DatabaseResolver,
    QueryError,
    Requirement,
    compile_query,
    parse_query,
    parse_requirements,
)
from marketplace.search.ast import Node, conjunction
from marketplace.search.partition import (
    RestrictedResolver,
    implied_gpu_ids,
    implied_provider_ids,
)
from marketplace.selectors.quotes import (
    Candidate,
    OfferStream,
    count_over_total,
    count_suspect,
    exclusion_reason,
    gpu_facts,
    index_order_reads,
    listed_offers,
    quotable_offers,
    read_first_pages,
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
# Pages of a stream grow fourfold, from FIRST_PAGE to MAX_PAGE: a quote wants `limit` plans
# (5 by default), and where the filter is selective (one region of two hundred) every offer
# of a page costs a long walk through the index; where it is not, few second pages happen.
FIRST_PAGE = 16
MAX_PAGE = 256
# Bounds on the work of one quote: offers read for single-offer plans, and the cheapest
# offers per GPU that split plans are built from.
MAX_SINGLE_OFFERS_READ = 4096
SPLIT_CANDIDATES = 512
# total_cost reads per GPU model when a request allows at most this many.
MAX_GPU_RUNS = 8
# ... and reads each stream one provider at a time when the filter allows at most this many.
MAX_PROVIDER_RUNS = 4
# Offers left out for max_total, or for want of a throughput figure, are counted up to here:
# the count is a hint, not a census, and must not cost a scan of the catalog.
COUNT_CAP = 100
EXCLUSION_REASONS = (
    "stale",
    "suspect",
    "unavailable",
    "not_reservable",
    "no_throughput",
    "over_max_total",
)
# Quote.total is numeric(16, 6): a plan of ten billion or more cannot be stored (a 500 before,
# e.g. 64 instances of a listed $100,000/h offer for a year), and is no plan anyone acts on:
# it is left out, as one above the buyer's max_total is.
MAX_QUOTE_TOTAL = Decimal("9999999999.99")
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

    Bad `gpu` or `filter` text raises DomainError 400 (invalid_gpu_spec / invalid_query, with
    the position and a hint)."""
    work = _Work.start(request, resolver or DatabaseResolver())
    tree = work.tree(include_count=True)
    with index_order_reads():
        plans = _best_single_offer_plans(work, tree)
        singles = True
        if not plans and request.allow_split:
            work.excluded.update(dict.fromkeys(work.excluded, 0))  # the split counts afresh
            tree, singles = work.tree(include_count=False), False
            plans = _best_split_plans(work, tree)
    _count_beyond_reads(work, tree, plans, singles=singles)
    return QuoteResult(_store(org, request, work.pricing, plans), dict(work.excluded))


@dataclass(frozen=True)
class _Work:
    """One request being worked out: its parsed parts and everything needed to price it."""

    request: QuoteRequest
    resolver: CatalogResolver
    requirement: Requirement
    filter_tree: Node
    pricing: Pricing
    extras: CheapestExtras
    excluded: dict[str, int]  # offers read but left out, by reason

    @classmethod
    def start(cls, request: QuoteRequest, resolver: CatalogResolver) -> _Work:
        requirement, filter_tree = _parse(request)
        rates = reservable_provider_rates()
        usage = Usage(request.hours, request.disk_gb, request.egress_gb, request.currency)
        pricing = Pricing(usage, request.objective, rates, gpu_facts())
        extras = CheapestExtras.of(list(rates.values()), usage)
        excluded = dict.fromkeys(EXCLUSION_REASONS, 0)
        return cls(request, resolver, requirement, filter_tree, pricing, extras, excluded)

    @property
    def per_work(self) -> bool:
        return self.request.objective == COST_PER_WORK

    def tree(self, *, include_count: bool) -> Node:
        return conjunction(
            [self.requirement.to_tree(include_count=include_count), self.filter_tree]
        )

    def match(
        self,
        tree: Node,
        resolver: CatalogResolver | None = None,
        pricing: str | None = None,
        *,
        any_pricing: bool = False,
    ) -> Q:
        """The request's offers (one pricing model's, if named; `any_pricing`: the caller
        narrows the pricing model itself)."""
        q = compile_query(tree, resolver=resolver or self.resolver).q
        q &= Q(currency=self.request.currency)
        if any_pricing:
            return q
        return q & (Q(pricing=pricing) if pricing else Q(pricing__in=list(self.request.pricing)))

    def quotable(self, match: Q) -> QuerySet:
        return quotable_offers(match=match, provider_ids=self.pricing.rates.keys())

    def usable(self, offers: list[Candidate]) -> list[Candidate]:
        """The quotable offers among those read; the rest are counted by reason."""
        kept = []
        for offer in offers:
            reason = exclusion_reason(offer, self.pricing.rates)
            if reason is None and self.per_work and not self.throughput(offer.gpu_id):
                reason = "no_throughput"
            if reason is None:
                kept.append(offer)
            else:
                self.excluded[reason] += 1
        return kept

    def throughput(self, gpu_id: int) -> Decimal | None:
        facts = self.pricing.gpus.get(gpu_id)
        return facts.relative_throughput if facts else None


def _parse(request: QuoteRequest) -> tuple[Requirement, Node]:
    try:
        requirement = parse_requirements(request.gpu)
    except QueryError as error:
        raise _field_error(error, "gpu") from None
    try:
        filter_tree = parse_query(request.filter)
    except QueryError as error:
        raise _field_error(error, "filter") from None
    return requirement, filter_tree


def _field_error(error: QueryError, field: str) -> QueryError:
    error.extra["field"] = field
    return error


# --- candidate offers, one stream per GPU model where that keeps reads on an index ----------


def _gpu_runs(work: _Work, tree: Node) -> list[int] | None:
    """The GPU models to read one by one, or None to read all in one price order.

    cost_per_work always reads per GPU: its rank, price / throughput, has no index, but
    within one GPU it follows the price per GPU-hour, which has one. total_cost reads per GPU
    when the request allows a handful, or bounds GPU memory (an index on (gpu, pricing,
    price) serves each run; a price scan across all GPUs would pass over everything cheaper
    first)."""
    implied = implied_gpu_ids(tree, work.resolver)
    if work.per_work:
        with_figures = {i for i in work.pricing.gpus if work.throughput(i)}
        return sorted(with_figures if implied is None else with_figures & implied)
    if implied is not None and len(implied) <= MAX_GPU_RUNS:
        return sorted(implied)
    if implied is None and _bounds_memory(work.requirement):
        # Price follows GPU memory: in one price order, `24GB..` would walk past every
        # cheap small card first (200,000 index entries before the first fit, in a
        # million offers). Both writers record each offer's GPU memory from its canonical
        # model (brokers/services/normalise.py, services/provider_offers.py), so the models
        # whose memory is in range are exactly those whose offers can fit: one run each.
        return _gpus_with_memory(work)
    return None


def _bounds_memory(requirement: Requirement) -> bool:
    return requirement.gpu_memory_min_gb is not None or requirement.gpu_memory_max_gb is not None


def _gpus_with_memory(work: _Work) -> list[int]:
    low, high = work.requirement.gpu_memory_min_gb, work.requirement.gpu_memory_max_gb
    return sorted(
        gpu_id
        for gpu_id, facts in work.pricing.gpus.items()
        if (low is None or facts.memory_gb >= low) and (high is None or facts.memory_gb <= high)
    )


def _streams(work: _Work, tree: Node, column: str, page_size: int) -> list[OfferStream]:
    """Listed offers that match, in `column` order: one stream, or one per GPU model and
    pricing model (each on the (gpu, pricing, price) index; prices follow the pricing model
    too, so a single scan would pass over every cheaper spot offer first)."""
    gpu_ids = _gpu_runs(work, tree)
    providers = _provider_runs(work, tree)
    if gpu_ids is None:
        return [
            OfferStream(
                listed_offers(match=work.match(tree, pricing=pricing)),
                column,
                page_size=page_size,
                pricing=pricing,
                providers=providers,
            )
            for pricing in work.request.pricing
        ]
    if implied_gpu_ids(tree, work.resolver) is None:
        return _streams_from_template(work, tree, column, page_size, gpu_ids)
    streams = []
    for gpu_id in gpu_ids:
        # Compiled for this GPU alone: no second gpu_id condition to skew the estimates.
        restricted = RestrictedResolver(work.resolver, {gpu_id})
        for pricing in work.request.pricing:
            match = work.match(tree, restricted, pricing) & Q(gpu_id=gpu_id)
            streams.append(
                OfferStream(
                    listed_offers(match=match),
                    column,
                    page_size=page_size,
                    gpu_id=gpu_id,
                    pricing=pricing,
                    providers=providers,
                )
            )
    return streams


def _provider_runs(work: _Work, tree: Node) -> tuple[int, ...]:
    """The providers to read one by one within each stream (`provider in [a,b]`), or ()."""
    implied = implied_provider_ids(tree, work.resolver)
    if implied is None or not 1 < len(implied) <= MAX_PROVIDER_RUNS:
        return ()
    return tuple(sorted(implied))


def _streams_from_template(work: _Work, tree, column, page_size, gpu_ids) -> list[OfferStream]:
    """Streams per GPU and pricing model of a request that names no GPU: the same offers
    narrowed by GPU and pricing, read in one statement (selectors.quotes). Offers of no
    known GPU model get a stream of their own, unless only throughput-rated GPUs count."""
    template = listed_offers(match=work.match(tree, any_pricing=True))
    streams = [
        OfferStream(
            None,
            column,
            page_size=page_size,
            gpu_id=gpu_id,
            pricing=pricing,
            template=template,
        )
        for gpu_id in gpu_ids
        for pricing in work.request.pricing
    ]
    if not work.per_work and not work.requirement.gpu_memory_min_gb:
        # offers of no known GPU record no GPU memory: none fits a memory floor
        streams += [
            OfferStream(
                template.filter(gpu_id__isnull=True, pricing=pricing),
                column,
                page_size=page_size,
                gpu_id=None,
                pricing=pricing,
            )
            for pricing in work.request.pricing
        ]
    return streams


def _best_single_offer_plans(work: _Work, tree: Node) -> list[PricedPlan]:
    # Read in price per GPU-hour for both objectives: price per instance-hour would follow
    # the GPU count (a request for 8 GPUs would pass over every cheap 1-GPU offer first).
    streams = _streams(work, tree, "price_per_gpu_hour", FIRST_PAGE)
    for stream in streams:
        stream.page_size = _first_page_size(len(streams), work.request.limit)
    best = BestPlans(work.request.limit)
    page, read = read_first_pages(streams), 0
    while page:
        read += len(page)
        _price_cheapest_first(work, work.usable(page), best)
        live = [s for s in streams if not s.exhausted and _may_win(work, s, best)]
        if not live or read >= MAX_SINGLE_OFFERS_READ:
            break
        page = []
        for stream in live:
            stream.page_size = min(MAX_PAGE, stream.page_size * 4)
            page += stream.next_page()
    return best.sorted()


def _first_page_size(streams: int, limit: int) -> int:
    # Enough for a full list from one stream, less per stream when there are many (the
    # floors decide whether any stream needs a second page).
    return max(limit, min(FIRST_PAGE, 512 // max(streams, 1)))


def _price_cheapest_first(work: _Work, offers: list[Candidate], best: BestPlans) -> None:
    """Price offers in the order of their floors, and stop at the first floor that cannot
    make the list: everything after it cannot either."""
    floors = sorted((_floor(work, o.gpu_id, o.key), o.id, o) for o in offers)
    for floor, _, offer in floors:
        if _beaten(work, floor, best):
            break
        _consider(best, work.pricing.price([Leg(offer, 1)]), work.request)


def _floor(work: _Work, gpu_id: int | None, price_per_gpu_hour: Decimal) -> Decimal:
    """No one-instance plan at this price per GPU-hour (or dearer) scores below this."""
    usage = work.pricing.usage
    if work.per_work:
        # Price per GPU-hour over throughput, with the cheapest boot time on top; disk and
        # egress only add.
        throughput = work.throughput(gpu_id)
        return price_per_gpu_hour * work.extras.billed_hours(usage) / (throughput * usage.hours)
    # At least count_min GPUs at this price per GPU-hour, plus the cheapest extras.
    count_min = work.requirement.count_min or 1
    return work.extras.single_offer_total_floor(price_per_gpu_hour * count_min, usage)


def _beaten(work: _Work, floor: Decimal, best: BestPlans) -> bool:
    floor -= BOUND_SLACK
    if not work.per_work and work.request.max_total is not None and floor > work.request.max_total:
        return True
    if not best.full:
        return False
    worst = best.worst()
    return floor > (worst.cost_per_work if work.per_work else worst.total_exact)


def _may_win(work: _Work, stream: OfferStream, best: BestPlans) -> bool:
    """Could an offer not read yet from `stream` still make the quotes?"""
    return not _beaten(work, _floor(work, stream.gpu_id, stream.last_key), best)


def _best_split_plans(work: _Work, tree: Node) -> list[PricedPlan]:
    request, pricing = work.request, work.pricing
    count_min, count_max = work.requirement.count_min or 1, work.requirement.count_max
    runs = _gpu_runs(work, tree)
    streams_wanted = len(runs or (None,)) * (len(request.pricing) if runs else 1)
    page_size = max(32, SPLIT_CANDIDATES // streams_wanted)
    streams = _streams(work, tree, "price_per_gpu_hour", page_size)
    candidates = work.usable(read_first_pages(streams))
    best = BestPlans(request.limit)
    for group in split_groups(candidates, same_region=request.same_region):
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
    if plan.total > MAX_QUOTE_TOTAL:
        return
    if request.max_total is not None and plan.total > request.max_total:
        return
    if request.objective == COST_PER_WORK and plan.cost_per_work is None:
        return
    best.offer(plan)


def _count_beyond_reads(work: _Work, tree: Node, plans, *, singles: bool) -> None:
    """Counts the reads cannot give, each up to a cap: suspect offers (no stream reads them),
    priced per GPU-hour no higher than the dearest quoted offer when the quotes are a full
    list; offers left out because of max_total (fit alone, but dearer) when that left fewer
    quotes than asked for; and, for cost_per_work, offers of GPUs without a throughput
    figure, which no stream reads."""
    request = work.request
    within = None
    if len(plans) >= request.limit:
        dearest = max(leg.offer.price_per_gpu_hour for plan in plans for leg in plan.legs)
        within = Q(price_per_gpu_hour__lte=dearest)
    work.excluded["suspect"] = count_suspect(match=work.match(tree), within=within, cap=COUNT_CAP)
    if request.max_total is not None and singles and len(plans) < request.limit:
        work.excluded["over_max_total"] = count_over_total(
            quotable=work.quotable(work.match(tree)),
            usage=work.pricing.usage,
            max_total=request.max_total,
            cap=COUNT_CAP,
        )
    if work.per_work:
        work.excluded["no_throughput"] += _count_workless(work, tree)


def _count_workless(work: _Work, tree: Node) -> int:
    """Quotable offers of GPUs without a throughput figure (or of no known GPU), up to the
    cap. When the request names its GPUs, only those can count: none may be workless, and
    then there is nothing to ask the database (whose planner cannot see that
    `gpu_id IN (named) AND gpu_id IN (workless)` is empty, and would scan every offer)."""
    workless = {i for i in work.pricing.gpus if not work.throughput(i)}
    implied = implied_gpu_ids(tree, work.resolver)
    if implied is not None:
        workless &= implied
        if not workless:
            return 0
        unknown_gpu = Q(gpu_id__in=sorted(workless))
    else:
        unknown_gpu = Q(gpu_id__isnull=True) | Q(gpu_id__in=sorted(workless))
    offers = work.quotable(work.match(tree)).filter(unknown_gpu)
    return offers.values("id")[:COUNT_CAP].count()


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
