"""The price check as it was before issue 15, kept as the baseline of `bench/price_check.py`:
offers below 0.4 x the median of the providers' median prices per (GPU model, pricing
model) are suspect, bid floors that a source marks too, and spot copies share their
on-demand row's verdict. The statement is the old one, unchanged (commit e684969)."""

from __future__ import annotations

from decimal import Decimal

from django.db import connection, transaction

from marketplace.models import GpuModel, Offer, OfferStatus, PricingModel
from marketplace.services.price_sanity import BID_FLOOR_REASON, REASON_MAX, SPOT_COPY_REASON

OLD_FACTOR = Decimal("0.4")  # SUSPECT_PRICE_FACTOR's old default
MIN_PROVIDERS = 3


def old_sanity_sql() -> str:
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
    provider_votes AS (
        SELECT gpu_id, pricing, provider_id,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY price_per_gpu_hour) AS median
        FROM scope
        WHERE status = %(active)s AND NOT bid_floor
          AND id NOT IN (SELECT spot_id FROM spot_copies)
        GROUP BY gpu_id, pricing, provider_id
    ),
    reference AS (
        SELECT gpu_id, pricing, count(*) AS providers,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY median)::numeric AS median
        FROM provider_votes
        GROUP BY gpu_id, pricing
        HAVING count(*) >= %(min_providers)s
    ),
    judged AS (
        SELECT s.id, s.bid_floor, s.suspect, CASE
            WHEN s.bid_floor THEN %(bid_floor_reason)s
            WHEN r.median > 0 AND s.price_per_gpu_hour < %(factor)s * r.median THEN format(
                '$%%s/GPU-h is %%s%%%% of the %%s %%s median $%%s across %%s providers',
                s.price_per_gpu_hour,
                round(100 * s.price_per_gpu_hour / r.median),
                CASE WHEN g.memory_gb > 0 THEN g.name || ' ' || g.memory_gb || 'GB'
                     ELSE g.name END,
                replace(s.pricing, '_', '-'),
                round(r.median, 2),
                r.providers)
            ELSE '' END AS reason
        FROM scope s
        JOIN {gpu} g ON g.id = s.gpu_id
        LEFT JOIN reference r ON r.gpu_id = s.gpu_id AND r.pricing = s.pricing
    ),
    verdict AS MATERIALIZED (
        SELECT j.id, left(CASE
            WHEN c.spot_id IS NULL OR j.bid_floor THEN j.reason
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


@transaction.atomic
def old_rule_flag_suspects() -> tuple[int, int]:
    """Judge every offer with the old rule, on this connection: (flagged, cleared)."""
    params = {
        "factor": OLD_FACTOR,
        "min_providers": MIN_PROVIDERS,
        "active": OfferStatus.ACTIVE,
        "spot": PricingModel.SPOT,
        "on_demand": PricingModel.ON_DEMAND,
        "bid_floor_reason": BID_FLOOR_REASON,
        "spot_copy_reason": SPOT_COPY_REASON,
        "reason_max": REASON_MAX,
        "all_gpus": True,
        "gpu_ids": [],
    }
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute(old_sanity_sql(), params)
        return cursor.fetchone()
