"""Price sanity: rows that are not prices are flagged `suspect`, with a reason a person can check.

Two kinds of row are not prices (issue 15; the labelled evaluation is
tests/price_evaluation.py, `make bench ARGS=price-check` prints its table):
- **Floors**: a source's marked bid floors (`extra["bid_floor"]`, vast's min_bid and
  RunPod's spot bids), and *floor lists*: a provider whose whole active GPU list is one
  per-GPU price across at least two GPU models, every row with spot = on-demand (mithril:
  $1.00 for H100 and H200 alike). No price list looks like that; an auction floor does.
  Judged on the provider's whole list, not on its price against others, so the verdict
  holds whoever else is listed.
- **Gross outliers**: a price below `SUSPECT_PRICE_FACTOR` (0.1) × the low end of its class.
  A class is a (GPU model, pricing model) pair; each provider gets one vote, its median
  price per GPU-hour in the class (a provider listing the same machine in 50 regions must
  not outvote the others); the low end is the 25th percentile of the votes, computed only
  when at least `MIN_PROVIDERS` providers vote. The low end, not the median: marketplaces
  (vast, cudo, lium) are cheap by design and honest asks sit there, up to 28x apart in one
  class (V100 $0.106 to $2.95), so only a price an order of magnitude below the cheap end
  (a slipped decimal point) is judged by its price alone.
A spot row whose price equals the on-demand price of the same machine (same provider, sku,
region, zone) is really that on-demand figure: it gets the on-demand row's verdict, and
does not vote.

The votes come from active offers that are not floors nor such spot copies. Every offer of
the classes checked is judged again, so an offer that is no longer an outlier is
un-flagged. All of it is one SQL statement per group of GPU models (percentile_cont over
per-provider medians; outside a transaction two groups are judged at once, see JUDGES), so
the cost is a few scans of the classes checked, and index probes into the few providers
whose rows in scope all share one price, not a Python loop over offers.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count

from marketplace.models import GpuModel, Offer, OfferStatus, PricingModel

MIN_PROVIDERS = 3
LOW_END_QUANTILE = 0.25  # of the providers' medians in a class: where marketplaces sit
BID_FLOOR_REASON = "bid floor, not a price"
FLOOR_LIST_REASON = "auction floor, not a price"
SPOT_COPY_REASON = "spot price equals a suspect on-demand price"
REASON_MAX = Offer._meta.get_field("suspect_reason").max_length


@dataclass(frozen=True)
class SuspectCounts:
    flagged: int = 0  # offers now suspect whose verdict changed (new flag or new reason)
    cleared: int = 0  # offers no longer suspect


def _sanity_sql() -> str:
    offer, gpu = Offer._meta.db_table, GpuModel._meta.db_table
    return f"""
    WITH scope AS (
        SELECT o.id, o.provider_id, o.sku, o.region, o.zone, o.gpu_id, o.pricing,
               o.price_per_hour, o.price_per_gpu_hour, o.status, o.suspect,
               coalesce(o.extra ->> 'bid_floor', '') = 'true' AS bid_floor
        FROM {offer} o
        WHERE o.gpu_id IS NOT NULL
          AND (%(all_gpus)s OR o.gpu_id = ANY(%(gpu_ids)s::bigint[]))
    ),
    spot_copies AS (  -- spot rows that repeat the on-demand price of the same machine
        -- The on-demand row is looked up by its identity (one unique-index probe per spot
        -- row): a join of the scope with itself sorted both sides on five columns, 3x slower.
        SELECT s.id AS spot_id, d.id AS on_demand_id
        FROM scope s JOIN {offer} d
          ON d.provider_id = s.provider_id AND d.sku = s.sku AND d.region = s.region
         AND d.zone = s.zone AND d.pricing = %(on_demand)s
         AND d.price_per_hour = s.price_per_hour AND d.gpu_id = s.gpu_id  -- so d is in scope
        WHERE s.pricing = %(spot)s
    ),
    one_price_providers AS (  -- the only candidates for a floor list: one price in scope
        SELECT provider_id, min(price_per_gpu_hour) AS price
        FROM scope WHERE status = %(active)s
        GROUP BY provider_id
        HAVING min(price_per_gpu_hour) = max(price_per_gpu_hour)
    ),
    floor_lists AS (
        -- A provider whose whole GPU list is one per-GPU price across GPU models, every
        -- row with spot = on-demand, lists the floor of an auction, not prices (mithril:
        -- $1.00 for H100 and H200 alike). Judged on its whole list, not only the scope, so
        -- the verdict does not depend on which classes a sync touched. The NOT EXISTS
        -- probes stop at the first row that breaks the pattern: a real price list breaks
        -- it at once.
        SELECT c.provider_id, c.price, m.models
        FROM one_price_providers c
        CROSS JOIN LATERAL (
            SELECT count(DISTINCT o.gpu_id) AS n, string_agg(DISTINCT CASE
                WHEN g.memory_gb > 0 THEN g.name || ' ' || g.memory_gb || 'GB'
                ELSE g.name END, ', ') AS models
            FROM {offer} o JOIN {gpu} g ON g.id = o.gpu_id
            WHERE o.provider_id = c.provider_id AND o.status = %(active)s
        ) m
        WHERE m.n >= 2
          AND NOT EXISTS (
            SELECT 1 FROM {offer} o
            WHERE o.provider_id = c.provider_id AND o.gpu_id IS NOT NULL
              AND o.status = %(active)s
              AND (o.price_per_gpu_hour <> c.price OR NOT EXISTS (
                SELECT 1 FROM {offer} t  -- its twin at the same price: spot = on-demand
                WHERE t.provider_id = o.provider_id AND t.sku = o.sku
                  AND t.region = o.region AND t.zone = o.zone AND t.status = %(active)s
                  AND t.price_per_hour = o.price_per_hour
                  AND t.pricing = CASE o.pricing WHEN %(spot)s THEN %(on_demand)s
                                                 ELSE %(spot)s END))
          )
    ),
    provider_votes AS (
        SELECT s.gpu_id, s.pricing, s.provider_id,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY s.price_per_gpu_hour) AS median
        FROM scope s
        WHERE s.status = %(active)s AND NOT s.bid_floor
          AND s.id NOT IN (SELECT spot_id FROM spot_copies)
          AND s.provider_id NOT IN (SELECT provider_id FROM floor_lists)
        GROUP BY s.gpu_id, s.pricing, s.provider_id
    ),
    reference AS (  -- the cheap end of the market: honest marketplaces sit there by design
        SELECT gpu_id, pricing, count(*) AS providers,
               percentile_cont(%(low_end)s) WITHIN GROUP (ORDER BY median)::numeric AS low_end
        FROM provider_votes
        GROUP BY gpu_id, pricing
        HAVING count(*) >= %(min_providers)s
    ),
    judged AS (
        SELECT s.id, s.bid_floor, f.provider_id IS NOT NULL AS floor_list, s.suspect, CASE
            WHEN s.bid_floor THEN %(bid_floor_reason)s
            WHEN f.provider_id IS NOT NULL THEN format(
                '%%s: one $%%s/GPU-h for every GPU model listed (%%s), spot = on-demand on '
                'every row',
                %(floor_list_reason)s, round(f.price, 2), f.models)
            WHEN r.low_end > 0 AND s.price_per_gpu_hour < %(factor)s * r.low_end THEN format(
                '$%%s/GPU-h is %%s%%%% of the low end of the %%s %%s market: $%%s, the '
                '%%sth percentile of %%s providers'' medians',
                s.price_per_gpu_hour,
                round(100 * s.price_per_gpu_hour / r.low_end),
                CASE WHEN g.memory_gb > 0 THEN g.name || ' ' || g.memory_gb || 'GB'
                     ELSE g.name END,
                replace(s.pricing, '_', '-'),
                round(r.low_end, 2),
                round(100 * %(low_end)s),
                r.providers)
            ELSE '' END AS reason
        FROM scope s
        JOIN {gpu} g ON g.id = s.gpu_id
        LEFT JOIN reference r ON r.gpu_id = s.gpu_id AND r.pricing = s.pricing
        LEFT JOIN floor_lists f ON f.provider_id = s.provider_id
    ),
    verdict AS MATERIALIZED (
        SELECT j.id, left(CASE
            WHEN c.spot_id IS NULL OR j.bid_floor OR j.floor_list THEN j.reason
            WHEN d.reason <> '' THEN %(spot_copy_reason)s || ' (' || d.reason || ')'
            ELSE '' END, %(reason_max)s) AS reason
        FROM judged j
        LEFT JOIN spot_copies c ON c.spot_id = j.id
        LEFT JOIN judged d ON d.id = c.on_demand_id
        -- Only verdicts that can change a row: a flag, a flag to clear, a spot copy. The
        -- rest (nearly every offer) would be compared with itself for nothing.
        WHERE j.reason <> '' OR j.suspect OR c.spot_id IS NOT NULL
    ),
    changed AS (
        UPDATE {offer} o SET suspect = v.reason <> '', suspect_reason = v.reason
        FROM verdict v
        -- by primary key: a hash of every offer's id costs more than the few rows it finds
        WHERE o.id = ANY(ARRAY(SELECT id FROM verdict)) AND o.id = v.id
          AND (o.suspect, o.suspect_reason) IS DISTINCT FROM (v.reason <> '', v.reason)
        RETURNING o.suspect
    )
    SELECT count(*) FILTER (WHERE suspect), count(*) FILTER (WHERE NOT suspect) FROM changed
    """


# Connections that judge at once. Classes are independent (a spot copy shares its on-demand
# row's GPU model), so the GPU models are split between them by their offer counts: after a
# first refresh the check has both CPUs to itself (bench/refresh.py's "after load").
JUDGES = 2


def offers_flag_suspects(
    *, gpu_ids: Iterable[int] | None = None, factor: Decimal | None = None
) -> SuspectCounts:
    """Judge every offer of these GPU models (all models when None) against its class."""
    ids = None if gpu_ids is None else sorted(set(gpu_ids))
    if ids == []:
        return SuspectCounts()
    params = _params(factor)
    if connection.in_atomic_block:  # a caller's transaction: other connections can't see it
        return _judge(ids, params)
    parts = _balanced_parts(ids, JUDGES)
    if len(parts) < 2:
        return _judge(ids, params)
    with ThreadPoolExecutor(max_workers=len(parts), thread_name_prefix="price-judge") as pool:
        results = list(pool.map(lambda part: _judge_on_own_connection(part, params), parts))
    return SuspectCounts(
        flagged=sum(r.flagged for r in results), cleared=sum(r.cleared for r in results)
    )


def _params(factor: Decimal | None) -> dict:
    return {
        "factor": settings.SUSPECT_PRICE_FACTOR if factor is None else factor,
        "low_end": LOW_END_QUANTILE,
        "min_providers": MIN_PROVIDERS,
        "active": OfferStatus.ACTIVE,
        "spot": PricingModel.SPOT,
        "on_demand": PricingModel.ON_DEMAND,
        "bid_floor_reason": BID_FLOOR_REASON,
        "floor_list_reason": FLOOR_LIST_REASON,
        "spot_copy_reason": SPOT_COPY_REASON,
        "reason_max": REASON_MAX,
    }


def _balanced_parts(ids: list[int] | None, parts: int) -> list[list[int]]:
    """The GPU models in at most `parts` lists of about the same number of offers (largest
    first, each to the lightest list)."""
    offers = Offer.objects.filter(gpu__isnull=False)
    if ids is not None:
        offers = offers.filter(gpu_id__in=ids)
    counts = offers.values_list("gpu_id").annotate(n=Count("*")).order_by("-n", "gpu_id")
    lists: list[tuple[int, list[int]]] = [(0, []) for _ in range(parts)]
    for gpu_id, n in counts:
        total, members = min(lists, key=lambda entry: entry[0])
        lists.remove((total, members))
        lists.append((total + n, [*members, gpu_id]))
    return [sorted(members) for _, members in lists if members]


def _judge_on_own_connection(ids: list[int], params: dict) -> SuspectCounts:
    try:
        return _judge(ids, params)
    finally:
        connection.close()  # this thread's own connection


@transaction.atomic
def _judge(ids: list[int] | None, params: dict) -> SuspectCounts:
    with connection.cursor() as cursor:
        # The planner's row estimates through these CTEs are poor, and JIT-compiling the
        # plan it then expects to be huge costs more than running it (docs/refresh.md,
        # "Speed"). The sorts fit in memory at a million offers with 64 MB.
        cursor.execute("SET LOCAL jit = off")
        cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute(_sanity_sql(), {**params, "all_gpus": ids is None, "gpu_ids": ids or []})
        flagged, cleared = cursor.fetchone()
    return SuspectCounts(flagged=flagged, cleared=cleared)
