"""Which candidate offer streams a request reads: one per pricing model, or one per GPU
model and pricing model where that keeps every read on an index range."""

from __future__ import annotations

from django.db.models import Q

from marketplace.quoting.candidates import listed_offers
from marketplace.quoting.request import QuoteWork
from marketplace.quoting.streams import OfferStream
from marketplace.search import Requirement
from marketplace.search.ast import Node
from marketplace.search.partition import (
    RestrictedResolver,
    implied_gpu_ids,
    implied_provider_ids,
)

# total_cost reads per GPU model when a request allows at most this many.
MAX_GPU_RUNS = 8
# ... and reads each stream one provider at a time when the filter allows at most this many.
MAX_PROVIDER_RUNS = 4


def gpu_runs(work: QuoteWork, tree: Node) -> list[int] | None:
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
        # cheap small card before the first fit (docs/quotes.md, Speed). Both writers record each offer's GPU memory from its canonical
        # model (brokers/services/normalise.py, services/provider_offers.py), so the models
        # whose memory is in range are exactly those whose offers can fit: one run each.
        return _gpus_with_memory(work)
    return None


def _bounds_memory(requirement: Requirement) -> bool:
    return requirement.gpu_memory_min_gb is not None or requirement.gpu_memory_max_gb is not None


def _gpus_with_memory(work: QuoteWork) -> list[int]:
    low, high = work.requirement.gpu_memory_min_gb, work.requirement.gpu_memory_max_gb
    return sorted(
        gpu_id
        for gpu_id, facts in work.pricing.gpus.items()
        if (low is None or facts.memory_gb >= low) and (high is None or facts.memory_gb <= high)
    )


def offer_streams(work: QuoteWork, tree: Node, column: str, page_size: int) -> list[OfferStream]:
    """Listed offers that match, in `column` order: one stream, or one per GPU model and
    pricing model (each on the (gpu, pricing, price) index; prices follow the pricing model
    too, so a single scan would pass over every cheaper spot offer first)."""
    gpu_ids = gpu_runs(work, tree)
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
    return [
        OfferStream(
            listed_offers(match=_gpu_match(work, tree, gpu_id, pricing)),
            column,
            page_size=page_size,
            gpu_id=gpu_id,
            pricing=pricing,
            providers=providers,
        )
        for gpu_id in gpu_ids
        for pricing in work.request.pricing
    ]


def _gpu_match(work: QuoteWork, tree: Node, gpu_id: int, pricing: str) -> Q:
    # Compiled for this GPU alone: no second gpu_id condition to skew the estimates.
    restricted = RestrictedResolver(work.resolver, {gpu_id})
    return work.match(tree, restricted, pricing) & Q(gpu_id=gpu_id)


def _provider_runs(work: QuoteWork, tree: Node) -> tuple[int, ...]:
    """The providers to read one by one within each stream (`provider in [a,b]`), or ()."""
    implied = implied_provider_ids(tree, work.resolver)
    if implied is None or not 1 < len(implied) <= MAX_PROVIDER_RUNS:
        return ()
    return tuple(sorted(implied))


def _streams_from_template(work: QuoteWork, tree, column, page_size, gpu_ids) -> list[OfferStream]:
    """Streams per GPU and pricing model of a request that names no GPU: the same offers
    narrowed by GPU and pricing, read in one statement (streams.read_first_pages). Offers of no
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
