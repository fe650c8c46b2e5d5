"""Quotes: the cheapest suitable plans for a request, all-in, held for a short time.

    result = quote_create(org=org, request=QuoteRequest(gpu="H100:8", hours=Decimal(24)))
    result.quotes      # stored Quote rows, best first (by the objective)
    result.excluded    # {"stale": 3, "suspect": 1, ...}: offers left out and why
    result.elsewhere   # the cheapest fitting offers that cannot be reserved here, and why

Single-offer plans are found exactly, reading fitting offers in price order until nothing
unread can win (plan_search); when no single offer fits and the buyer allows it, plans split
across several offers are built from the cheapest offers per GPU-hour. Formulas, defaults
and rules: docs/quotes.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from marketplace.models import Quote
from marketplace.quoting.elsewhere import ElsewhereOffer, market_elsewhere
from marketplace.quoting.exclusion_counts import count_beyond_reads
from marketplace.quoting.plan_search import best_single_offer_plans, best_split_plans
from marketplace.quoting.request import QuoteRequest, QuoteWork
from marketplace.quoting.storage import quotes_store
from marketplace.quoting.streams import index_order_reads
from marketplace.search import CatalogResolver, DatabaseResolver


@dataclass(frozen=True)
class QuoteResult:
    quotes: list[Quote]
    excluded: dict[str, int]
    elsewhere: list[ElsewhereOffer]


def quote_create(
    *, org, request: QuoteRequest, resolver: CatalogResolver | None = None
) -> QuoteResult:
    """Price the request against the catalog, store the best plans as quotes, return them.

    Bad `gpu` or `filter` text raises DomainError 400 (invalid_gpu_spec / invalid_query, with
    the position and a hint)."""
    work = QuoteWork.start(request, resolver or DatabaseResolver())
    tree = work.tree(include_count=True)
    with index_order_reads():
        plans = best_single_offer_plans(work, tree)
        singles = True
        if not plans and request.allow_split:
            work.excluded.update(dict.fromkeys(work.excluded, 0))  # the split counts afresh
            tree, singles = work.tree(include_count=False), False
            plans = best_split_plans(work, tree)
    count_beyond_reads(work, tree, plans, singles=singles)
    elsewhere = market_elsewhere(work)
    stored = quotes_store(org=org, request=request, pricing=work.pricing, plans=plans)
    return QuoteResult(stored, dict(work.excluded), elsewhere)
