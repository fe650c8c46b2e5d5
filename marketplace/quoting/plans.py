"""Plans: which offers, how many instances of each, at what all-in price (docs/quotes.md).

Pure functions over candidate rows; the database work is in candidates.py and streams.py,
the search in plan_search.py. A plan is one or more legs; a leg is `units` instances
of one offer.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from marketplace.quoting.candidates import Candidate, GpuFacts
from marketplace.quoting.costs import (
    HOURS_PER_MONTH,
    LegCost,
    ProviderRates,
    Usage,
    cost_per_work,
    leg_cost,
    plan_total,
)

TOTAL_COST = "total_cost"
COST_PER_WORK = "cost_per_work"
# A split is planned exactly (a small knapsack) when greedy filling misses the GPU count and
# the numbers are small enough for that to take well under a millisecond.
EXACT_FILL_MAX_GPUS = 256
EXACT_FILL_MAX_OFFERS = 24


@dataclass(frozen=True)
class Leg:
    offer: Candidate
    units: int

    @property
    def gpus(self) -> int:
        return self.units * self.offer.gpu_count


@dataclass(frozen=True)
class PricedPlan:
    legs: tuple[Leg, ...]
    costs: tuple[LegCost, ...]
    total_exact: Decimal
    total: Decimal
    work_gpu_hours: Decimal | None  # Σ gpus × relative throughput × hours
    cost_per_work: Decimal | None
    rank: tuple = field(compare=False)

    @property
    def gpus(self) -> int:
        return sum(leg.gpus for leg in self.legs)


@dataclass(frozen=True)
class Pricing:
    """Everything needed to price a plan: the buyer's usage, provider rates, GPU facts."""

    usage: Usage
    objective: str
    rates: dict[int, ProviderRates]
    gpus: dict[int, GpuFacts]

    def throughput(self, offer: Candidate) -> Decimal | None:
        facts = self.gpus.get(offer.gpu_id) if offer.gpu_id is not None else None
        return facts.relative_throughput if facts else None

    def price(self, legs: Iterable[Leg]) -> PricedPlan:
        legs = tuple(legs)
        plan_gpus = sum(leg.gpus for leg in legs)
        costs = tuple(
            leg_cost(
                offer_price_per_hour=leg.offer.price_per_hour,
                units=leg.units,
                gpus=leg.gpus,
                plan_gpus=plan_gpus,
                rates=self.rates[leg.offer.provider_id],
                usage=self.usage,
            )
            for leg in legs
        )
        total_exact, total = plan_total(list(costs), self.usage.currency)
        work = self._work(legs)
        per_work = cost_per_work(total_exact, work) if work else None
        first = (per_work,) if self.objective == COST_PER_WORK else ()
        rank = (*first, total, total_exact, tuple(leg.offer.id for leg in legs))
        return PricedPlan(legs, costs, total_exact, total, work, per_work, rank)

    def _work(self, legs: tuple[Leg, ...]) -> Decimal | None:
        work = Decimal(0)
        for leg in legs:
            throughput = self.throughput(leg.offer)
            if not throughput:
                return None
            work += leg.gpus * throughput * self.usage.hours
        return work

    def unit_rate(self, offer: Candidate, plan_gpus: int) -> Decimal:
        """An instance's share of a plan's cost per GPU (per unit of work for cost_per_work):
        the greedy order of a split."""
        rates = self.rates[offer.provider_id]
        usage = self.usage
        billed_hours = usage.hours + Decimal(rates.boot_seconds) / 3600
        instance = (
            offer.price_per_hour * billed_hours
            + rates.disk_price_per_gb_month * usage.disk_gb * usage.hours / HOURS_PER_MONTH
            + rates.egress_price_per_gb * usage.egress_gb * offer.gpu_count / max(plan_gpus, 1)
        )
        per_gpu = instance / offer.gpu_count
        throughput = self.throughput(offer) if self.objective == COST_PER_WORK else None
        return per_gpu / throughput if throughput else per_gpu


class BestPlans:
    """The `size` best plans seen so far (lowest rank first)."""

    def __init__(self, size: int):
        self.size = size
        self._heap: list[tuple] = []  # (negated rank, counter, plan): a max-heap of the best

    def offer(self, plan: PricedPlan) -> None:
        item = (_Reverse(plan.rank), len(self._heap), plan)
        if len(self._heap) < self.size:
            heapq.heappush(self._heap, item)
        elif plan.rank < self._heap[0][2].rank:
            heapq.heapreplace(self._heap, item)

    @property
    def full(self) -> bool:
        return len(self._heap) >= self.size

    def worst(self) -> PricedPlan | None:
        return self._heap[0][2] if self._heap else None

    def sorted(self) -> list[PricedPlan]:
        return sorted((item[2] for item in self._heap), key=lambda plan: plan.rank)


class _Reverse:
    __slots__ = ("rank",)

    def __init__(self, rank):
        self.rank = rank

    def __lt__(self, other):
        return self.rank > other.rank

    def __eq__(self, other):
        return self.rank == other.rank


# --- plans across several offers ----------------------------------------------------------


def split_groups(candidates: list[Candidate], *, same_region: bool) -> list[list[Candidate]]:
    """Legs of one plan share one provider's region, unless the buyer said otherwise."""
    if not same_region:
        return [candidates]
    groups: dict[tuple, list[Candidate]] = defaultdict(list)
    for offer in candidates:
        groups[(offer.provider_id, offer.region)].append(offer)
    return list(groups.values())


def split_plan(
    offers: list[Candidate],
    *,
    count_min: int,
    count_max: int | None,
    unit_rate: Callable[[Candidate], Decimal],
) -> list[Leg] | None:
    """Instances from `offers` adding up to count_min..count_max GPUs, cheapest per GPU first.

    Greedy, then an exactness check: when greedy filling cannot land inside the range (say 8
    GPUs wanted from 3- and 4-GPU instances) a small exact search tries again.
    """
    ordered = sorted((o for o in offers if o.gpu_count > 0), key=lambda o: (unit_rate(o), o.id))
    legs = _greedy_fill(ordered, count_min, count_max)
    if legs is not None:
        return legs
    if count_max is None or count_max > EXACT_FILL_MAX_GPUS:
        return None
    return _exact_fill(ordered[:EXACT_FILL_MAX_OFFERS], count_min, count_max, unit_rate)


def _greedy_fill(offers: list[Candidate], count_min: int, count_max: int | None):
    legs, total = [], 0
    for offer in offers:
        if total >= count_min:
            break
        size = offer.gpu_count
        units = min(offer.available, -(-(count_min - total) // size))
        if count_max is not None:
            units = min(units, (count_max - total) // size)
        if units > 0:
            legs.append(Leg(offer, units))
            total += units * size
    return legs if total >= count_min else None


def _exact_fill(offers, count_min: int, count_max: int, unit_rate) -> list[Leg] | None:
    """Cheapest choice of instances with a GPU total in [count_min, count_max]: a bounded
    knapsack over GPU totals (availability split into powers of two)."""
    # best[total] = (cost, ((offer index, units), ...))
    best: dict[int, tuple[Decimal, tuple]] = {0: (Decimal(0), ())}
    for index, offer in enumerate(offers):
        per_unit = unit_rate(offer) * offer.gpu_count
        for bundle in _power_of_two_bundles(min(offer.available, count_max // offer.gpu_count)):
            gpus = bundle * offer.gpu_count
            for total, (cost, picks) in list(best.items()):
                reached = total + gpus
                if reached > count_max:
                    continue
                candidate = (cost + per_unit * bundle, (*picks, (index, bundle)))
                if reached not in best or candidate[0] < best[reached][0]:
                    best[reached] = candidate
    reachable = [best[t] for t in range(count_min, count_max + 1) if t in best]
    if not reachable:
        return None
    _, picks = min(reachable, key=lambda item: item[0])
    units: dict[int, int] = defaultdict(int)
    for index, bundle in picks:
        units[index] += bundle
    return [Leg(offers[index], count) for index, count in sorted(units.items())]


def _power_of_two_bundles(count: int) -> list[int]:
    bundles, size = [], 1
    while count > 0:
        take = min(size, count)
        bundles.append(take)
        count -= take
        size *= 2
    return bundles
