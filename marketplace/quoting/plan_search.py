"""The search for the best plans of a request.

Single-offer plans are found exactly: fitting offers are read in ascending price per
GPU-hour, a page at a time, in one stream per GPU model and pricing model where the request
allows (stream_layout), and reading stops once a floor under the objective of anything not
read yet says it cannot beat the plans in hand. Offers read but not quotable are counted by
reason as they go. Plans split across several offers are built greedily (with an exact
repair) from the cheapest offers per GPU-hour, a bounded number of them (plans.split_plan).
"""

from __future__ import annotations

from decimal import Decimal

from marketplace.quoting.candidates import Candidate
from marketplace.quoting.costs import rounding_slack
from marketplace.quoting.plans import (
    COST_PER_WORK,
    BestPlans,
    Leg,
    PricedPlan,
    split_groups,
    split_plan,
)
from marketplace.quoting.request import QuoteRequest, QuoteWork
from marketplace.quoting.stream_layout import gpu_runs, offer_streams
from marketplace.quoting.streams import OfferStream, read_first_pages
from marketplace.search.ast import Node

# Pages of a stream grow fourfold, from FIRST_PAGE to MAX_PAGE: a quote wants `limit` plans
# (5 by default), and where the filter is selective (one region of two hundred) every offer
# of a page costs a long walk through the index; where it is not, few second pages happen.
FIRST_PAGE = 16
MAX_PAGE = 256
# Bounds on the work of one quote: offers read for single-offer plans, and the cheapest
# offers per GPU that split plans are built from.
MAX_SINGLE_OFFERS_READ = 4096
SPLIT_CANDIDATES = 512
# Quote.total is numeric(16, 6): a plan of ten billion or more cannot be stored (e.g. 64
# instances of a listed $100,000/h offer for a year), and is no plan anyone acts on: it is
# left out, as one above the buyer's max_total is.
MAX_QUOTE_TOTAL = Decimal("9999999999.99")
# Components are kept to 6 places each, so a bound computed from unrounded figures may sit a
# few millionths above a real total: stop only when clear of that.
BOUND_SLACK = Decimal("0.00001")


def best_single_offer_plans(work: QuoteWork, tree: Node) -> list[PricedPlan]:
    # Read in price per GPU-hour for both objectives: price per instance-hour would follow
    # the GPU count (a request for 8 GPUs would pass over every cheap 1-GPU offer first).
    streams = offer_streams(work, tree, "price_per_gpu_hour", FIRST_PAGE)
    for stream in streams:
        stream.page_size = _first_page_size(len(streams), work.request.limit)
    best = BestPlans(work.request.limit)
    page, read = read_first_pages(streams), 0
    while page:
        read += len(page)
        _price_cheapest_first(work, work.usable(page, single_instance=True), best)
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


def _price_cheapest_first(work: QuoteWork, offers: list[Candidate], best: BestPlans) -> None:
    """Price offers in the order of their floors, and stop at the first floor that cannot
    make the list: everything after it cannot either."""
    floors = sorted((_floor(work, o.gpu_id, o.key), o.id, o) for o in offers)
    for floor, _, offer in floors:
        if _beaten(work, floor, best):
            break
        _consider(best, work.pricing.price([Leg(offer, 1)]), work.request)


def _floor(work: QuoteWork, gpu_id: int | None, price_per_gpu_hour: Decimal) -> Decimal:
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


def _beaten(work: QuoteWork, floor: Decimal, best: BestPlans) -> bool:
    floor -= BOUND_SLACK
    if work.per_work:
        return best.full and floor > best.worst().cost_per_work
    # Plans rank by their billed total, whose components are each rounded: a plan's billed
    # total may lie up to half a cent per component below its exact cost.
    floor -= rounding_slack(work.pricing.usage.currency)
    if work.request.max_total is not None and floor > work.request.max_total:
        return True
    return best.full and floor > best.worst().total


def _may_win(work: QuoteWork, stream: OfferStream, best: BestPlans) -> bool:
    """Could an offer not read yet from `stream` still make the quotes?"""
    return not _beaten(work, _floor(work, stream.gpu_id, stream.last_key), best)


def best_split_plans(work: QuoteWork, tree: Node) -> list[PricedPlan]:
    request, pricing = work.request, work.pricing
    count_min, count_max = work.requirement.count_min or 1, work.requirement.count_max
    runs = gpu_runs(work, tree)
    streams_wanted = len(runs or (None,)) * (len(request.pricing) if runs else 1)
    page_size = max(32, SPLIT_CANDIDATES // streams_wanted)
    streams = offer_streams(work, tree, "price_per_gpu_hour", page_size)
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
