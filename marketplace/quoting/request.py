"""A quote request, and the work of answering one: its parsed parts, the rates and GPU
facts it is priced with, and the counts of the offers left out so far."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal

from django.db.models import Q, QuerySet

from marketplace.quoting.candidates import (
    Candidate,
    exclusion_reason,
    gpu_facts,
    quotable_offers,
    reservable_provider_rates,
)
from marketplace.quoting.costs import CheapestExtras, Usage
from marketplace.quoting.plans import COST_PER_WORK, TOTAL_COST, Pricing
from marketplace.search import (
    CatalogResolver,
    QueryError,
    Requirement,
    check_cost,
    compile_query,
    parse_query,
    parse_requirements,
)
from marketplace.search.ast import Node, conjunction

DEFAULT_LIMIT = 5
EXCLUSION_REASONS = (
    "stale",
    "suspect",
    "unavailable",
    "not_reservable",
    "no_throughput",
    "over_max_total",
)

# Why an offer that fits cannot be used here, yet is a real price a buyer can pay elsewhere
# (suspect prices are not; no_throughput and over_max_total are about the request).
ELSEWHERE_REASONS = ("stale", "unavailable", "not_reservable")


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
class QuoteWork:
    """One request being worked out: its parsed parts and everything needed to price it."""

    request: QuoteRequest
    resolver: CatalogResolver
    requirement: Requirement
    filter_tree: Node
    pricing: Pricing
    extras: CheapestExtras
    excluded: dict[str, int]  # offers read but left out, by reason
    # Single-instance fits read but not reservable here (stale, sold out, no launcher): the
    # quote's `elsewhere` is made of the cheapest (marketplace/quoting/elsewhere.py).
    not_reservable: list[Candidate] = field(default_factory=list)

    @classmethod
    def start(cls, request: QuoteRequest, resolver: CatalogResolver) -> QuoteWork:
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

    def usable(self, offers: list[Candidate], *, single_instance: bool = False) -> list[Candidate]:
        """The quotable offers among those read; the rest are counted by reason (and, when
        each fits the request alone, those reservable elsewhere only are kept aside)."""
        kept = []
        for offer in offers:
            reason = exclusion_reason(offer, self.pricing.rates)
            if reason is None and self.per_work and not self.throughput(offer.gpu_id):
                reason = "no_throughput"
            if reason is None:
                kept.append(offer)
                continue
            self.excluded[reason] += 1
            if single_instance and reason in ELSEWHERE_REASONS:
                self.not_reservable.append(offer)
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
        check_cost(filter_tree)
    except QueryError as error:
        raise _field_error(error, "filter") from None
    return requirement, filter_tree


def _field_error(error: QueryError, field: str) -> QueryError:
    error.extra["field"] = field
    return error
