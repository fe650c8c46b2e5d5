"""Counts of the offers a quote left out, by reason, where the engine's reads cannot give
them: suspect offers (no stream reads them), offers above max_total, and offers of GPUs
without a throughput figure. Each is counted up to a cap: a hint, not a census."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import DecimalField, ExpressionWrapper, F, Q, QuerySet, Value
from django.db.models.expressions import Combinable
from django.db.models.functions import Cast, Round
from django.db.models.lookups import GreaterThan

from marketplace.models import Offer
from marketplace.quoting.candidates import LISTED
from marketplace.quoting.costs import HOURS_PER_MONTH, Usage
from marketplace.quoting.request import QuoteWork
from marketplace.search.ast import Node
from marketplace.search.partition import implied_gpu_ids

# Offers left out for max_total, or for want of a throughput figure, are counted up to here:
# the count is a hint, not a census, and must not cost a scan of the catalog.
COUNT_CAP = 100
_MONEY = DecimalField(max_digits=30, decimal_places=12)


def count_beyond_reads(work: QuoteWork, tree: Node, plans, *, singles: bool) -> None:
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


def _count_workless(work: QuoteWork, tree: Node) -> int:
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


def count_suspect(*, match: Q, within: Q | None, cap: int) -> int:
    """Listed offers that match but whose price is flagged as an outlier, up to `cap`."""
    rows = Offer.objects.filter(match, status__in=LISTED, suspect=True)
    if within is not None:
        rows = rows.filter(within)
    return rows.values("id")[:cap].count()


def single_offer_total(usage: Usage) -> Combinable:
    """The all-in total of one instance, in SQL, to count offers above max_total."""
    billed_hours = ExpressionWrapper(
        Value(usage.hours, output_field=_MONEY)
        # Cast: an integer over an integer-looking literal would divide as integers.
        + Cast("provider__boot_seconds", _MONEY) / Value(Decimal(3600), output_field=_MONEY),
        output_field=_MONEY,
    )
    disk_share = usage.disk_gb * usage.hours / HOURS_PER_MONTH
    return ExpressionWrapper(
        F("price_per_hour") * billed_hours
        + F("provider__disk_price_per_gb_month") * Value(disk_share, output_field=_MONEY)
        + F("provider__egress_price_per_gb") * Value(usage.egress_gb, output_field=_MONEY),
        output_field=_MONEY,
    )


def count_over_total(
    *, quotable: QuerySet[Offer], usage: Usage, max_total: Decimal, cap: int
) -> int:
    """Quotable offers whose one-instance all-in total is above max_total, counted up to
    `cap` (the count stops there, so a broad request stays cheap)."""
    total = Round(single_offer_total(usage), 2, output_field=_MONEY)
    above = quotable.filter(GreaterThan(total, Value(max_total, output_field=_MONEY)))
    return above.values("id")[:cap].count()
