"""Offer writes: bulk upsert from pricing syncs and provider lists, withdrawal, staleness."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from marketplace.models import Offer, OfferPrice, OfferStatus
from marketplace.money import quantize_rate

# Fields a sync may change on an existing offer; the identity fields never change.
IDENTITY_FIELDS = ("provider_id", "sku", "region", "zone", "pricing")
MUTABLE_FIELDS = (
    "gpu_id",
    "gpu_count",
    "gpu_memory_gb",
    "vcpus",
    "memory_gb",
    "disk_gb",
    "country",
    "continent",
    "price_per_hour",
    "price_per_gpu_hour",
    "currency",
    "available",
    "reliability",
    "interconnect",
)


@dataclass(frozen=True, slots=True)
class OfferInput:
    """A normalised offer, ready to store: GPU and location already resolved."""

    provider_id: int
    sku: str
    gpu_id: int | None
    gpu_count: int
    price_per_hour: Decimal
    pricing: str = "on_demand"
    currency: str = "USD"
    gpu_memory_gb: Decimal = Decimal(0)
    vcpus: Decimal = Decimal(0)
    memory_gb: Decimal = Decimal(0)
    disk_gb: Decimal = Decimal(0)
    region: str = ""
    zone: str = ""
    country: str = ""
    continent: str = ""
    available: int = 0
    reliability: Decimal | None = None
    interconnect: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def key(self) -> tuple:
        return (self.provider_id, self.sku, self.region, self.zone, self.pricing)

    def field_values(self) -> dict:
        price = quantize_rate(self.price_per_hour)
        per_gpu = quantize_rate(price / self.gpu_count) if self.gpu_count else price
        return {
            "gpu_id": self.gpu_id,
            "gpu_count": self.gpu_count,
            "gpu_memory_gb": self.gpu_memory_gb,
            "vcpus": self.vcpus,
            "memory_gb": self.memory_gb,
            "disk_gb": self.disk_gb,
            "country": self.country,
            "continent": self.continent,
            "price_per_hour": price,
            "price_per_gpu_hour": per_gpu,
            "currency": self.currency,
            "available": self.available,
            "reliability": self.reliability,
            "interconnect": self.interconnect,
        }


@dataclass
class UpsertCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    withdrawn: int = 0

    def add(self, other: UpsertCounts) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.withdrawn += other.withdrawn


def _dedupe(batch: Iterable[OfferInput]) -> list[OfferInput]:
    # One statement cannot touch one row twice: the last listing of a key wins.
    return list({item.key: item for item in batch}.values())


# --- the bulk upsert, in SQL ------------------------------------------------------------------
# A batch is COPYed into a temporary table that has the offer table's own column types (so
# values are rounded exactly as they will be stored, and "unchanged" compares like with
# like), then one statement of data-modifying CTEs does the rest: match the batch to
# existing offers by identity; bump `observed_at` of the unchanged ones (a narrow update,
# HOT-friendly: no indexed column changes); rewrite the changed ones; insert the new ones;
# append a price history point for new offers and changed prices. All CTEs see one snapshot
# and touch disjoint rows. Table names come from the models; values are COPY data or bound
# parameters, never formatted into the SQL.

BATCH_TABLE = "offer_upsert_batch"
BATCH_COLUMNS = (*IDENTITY_FIELDS, *MUTABLE_FIELDS, "extra")


def _upsert_sql() -> str:
    offer, history = Offer._meta.db_table, OfferPrice._meta.db_table
    identity_match = " AND ".join(f"o.{f} = b.{f}" for f in IDENTITY_FIELDS)
    differs = " OR ".join(f"o.{f} IS DISTINCT FROM b.{f}" for f in (*MUTABLE_FIELDS, "extra"))
    assign = ", ".join(f"{f} = m.{f}" for f in (*MUTABLE_FIELDS, "extra"))
    columns = ", ".join(BATCH_COLUMNS)
    excluded = ", ".join(f"{f} = EXCLUDED.{f}" for f in (*MUTABLE_FIELDS, "extra"))
    return f"""
    WITH matched AS (
        SELECT b.*, o.id AS offer_id, o.price_per_hour AS old_price, o.currency AS old_currency,
               (o.status <> %(active)s OR {differs}) AS changed
        FROM {BATCH_TABLE} b LEFT JOIN {offer} o ON {identity_match}
    ),
    bumped AS (
        UPDATE {offer} o SET observed_at = %(now)s
        FROM matched m WHERE o.id = m.offer_id AND NOT m.changed
        RETURNING o.id
    ),
    rewritten AS (
        UPDATE {offer} o
        SET {assign}, observed_at = %(now)s, updated_at = %(now)s, status = %(active)s
        FROM matched m WHERE o.id = m.offer_id AND m.changed
        RETURNING o.id, o.price_per_hour, o.currency,
                  (o.price_per_hour, o.currency) IS DISTINCT FROM (m.old_price, m.old_currency)
                  AS repriced
    ),
    inserted AS (
        INSERT INTO {offer} ({columns}, observed_at, status, suspect, suspect_reason,
                             created_at, updated_at)
        SELECT {columns}, %(now)s, %(active)s, false, '', %(now)s, %(now)s
        FROM matched WHERE offer_id IS NULL ORDER BY seq  -- ids follow the batch order
        -- another writer may have inserted the key since our snapshot: take it over
        ON CONFLICT (provider_id, sku, region, zone, pricing) DO UPDATE
        SET {excluded}, observed_at = EXCLUDED.observed_at, updated_at = EXCLUDED.updated_at,
            status = EXCLUDED.status
        RETURNING id, price_per_hour, currency, (xmax = 0) AS is_new
    ),
    history AS (
        INSERT INTO {history} (offer_id, price_per_hour, currency, observed_at)
        SELECT id, price_per_hour, currency, %(now)s FROM rewritten WHERE repriced
        UNION ALL
        SELECT id, price_per_hour, currency, %(now)s FROM inserted
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM inserted WHERE is_new),
           (SELECT count(*) FROM inserted WHERE NOT is_new) + (SELECT count(*) FROM rewritten),
           (SELECT count(*) FROM bumped),
           (SELECT count(*) FROM history)
    """


def _create_batch_table(cursor) -> None:
    # Same column types as the offer table (CREATE TABLE AS keeps them), no constraints.
    cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{BATCH_TABLE}")
    cursor.execute(
        f"CREATE TEMPORARY TABLE {BATCH_TABLE} ON COMMIT DROP AS "
        f"SELECT 0 AS seq, {', '.join(BATCH_COLUMNS)} FROM {Offer._meta.db_table} WITH NO DATA"
    )


def _copy_rows(cursor, batch: Sequence[OfferInput]) -> None:
    with cursor.copy(f"COPY {BATCH_TABLE} (seq, {', '.join(BATCH_COLUMNS)}) FROM STDIN") as copy:
        for seq, item in enumerate(batch):
            values = item.field_values()
            copy.write_row(
                (
                    seq,
                    *item.key,
                    *(values[f] for f in MUTABLE_FIELDS),
                    json.dumps(item.extra, separators=(",", ":"), default=str),
                )
            )


@transaction.atomic
def offer_upsert_batch(*, batch: Sequence[OfferInput], observed_at: datetime) -> UpsertCounts:
    """Insert new offers, update changed ones, refresh `observed_at` of unchanged ones, and
    put every offer of the batch back to `active`.

    A price history point is appended for new offers and for price changes only. A few
    statements per batch whatever its size (see the comment above `_upsert_sql`).
    """
    batch = _dedupe(batch)
    if not batch:
        return UpsertCounts()
    with connection.cursor() as cursor:
        _create_batch_table(cursor)
        _copy_rows(cursor, batch)
        cursor.execute(f"ANALYZE {BATCH_TABLE}")  # the planner should know it is small
        cursor.execute(_upsert_sql(), {"now": observed_at, "active": OfferStatus.ACTIVE})
        created, updated, unchanged, _history = cursor.fetchone()
        cursor.execute(f"DROP TABLE {BATCH_TABLE}")
    return UpsertCounts(created=created, updated=updated, unchanged=unchanged)


def offers_withdraw_unseen(*, provider_ids: Iterable[int], seen_since: datetime) -> int:
    """After a complete sync: offers of these providers not seen in it are withdrawn."""
    return (
        Offer.objects.filter(provider_id__in=list(provider_ids), observed_at__lt=seen_since)
        .exclude(status=OfferStatus.WITHDRAWN)
        .update(status=OfferStatus.WITHDRAWN, available=0)
    )


def offers_mark_stale(
    *, provider_ids: Iterable[int], max_age: timedelta, now: datetime | None = None
) -> int:
    cutoff = (now or timezone.now()) - max_age
    return Offer.objects.filter(
        provider_id__in=list(provider_ids), status=OfferStatus.ACTIVE, observed_at__lt=cutoff
    ).update(status=OfferStatus.STALE)


def offer_withdraw(*, offer: Offer) -> Offer:
    Offer.objects.filter(pk=offer.pk).update(status=OfferStatus.WITHDRAWN, available=0)
    offer.refresh_from_db()
    return offer
