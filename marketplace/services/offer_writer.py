"""The bulk offer writer: a batch of offers from a pricing sync or a provider's list, written
with COPY and one statement (new offers inserted, changed ones rewritten, unchanged ones
seen again, price history appended on change)."""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from psycopg.errors import UniqueViolation

from common.jsonb import without_unstorable
from marketplace.models import Offer, OfferPrice, OfferStatus
from marketplace.services.offer_inputs import IDENTITY_FIELDS, MUTABLE_FIELDS, OfferInput


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
# existing offers by identity (unique index); bump `observed_at` of the unchanged ones;
# rewrite the changed ones; insert the new ones; append price history points for changed
# prices. All CTEs see one snapshot and touch disjoint rows.
#
# A batch that is all new (most batches of a first refresh) skips all of that: it is COPYed
# straight into the offer table (`_copy_new_offers`).
#
# Speed: an unchanged refresh is mostly the `observed_at` bump. That column is in no index,
# and the offer table keeps half of each page free (fillfactor, migration 0004), so the bump
# is a heap-only (HOT) update: no index entry is written. The updates find their rows by
# primary key (`id = ANY(ARRAY(...))`), never by a scan of the whole offer table.
# `observed_at` never moves back: when two runs overlap, the later one's withdrawal
# (observed_at < its start) must not catch offers that the earlier one stamped after it.
# Table names come from the models; values are COPY data or bound parameters.

BATCH_TABLE = "offer_upsert_batch"
WRITTEN_FIELDS = (*MUTABLE_FIELDS, "extra", "feed_id")  # what a sync sets on an offer
BATCH_COLUMNS = (*IDENTITY_FIELDS, *WRITTEN_FIELDS)
# What a sync sets on a new offer beyond what it lists: the same for every offer of a batch.
INSERT_DEFAULTS = ("observed_at", "status", "suspect", "suspect_reason", "created_at", "updated_at")


@functools.cache
def _upsert_sql() -> str:
    offer, history = Offer._meta.db_table, OfferPrice._meta.db_table
    identity_match = " AND ".join(f"o.{f} = b.{f}" for f in IDENTITY_FIELDS)
    differs = " OR ".join(f"o.{f} IS DISTINCT FROM b.{f}" for f in WRITTEN_FIELDS)
    assign = ", ".join(f"{f} = m.{f}" for f in WRITTEN_FIELDS)
    columns = ", ".join(BATCH_COLUMNS)
    excluded = ", ".join(f"{f} = EXCLUDED.{f}" for f in WRITTEN_FIELDS)
    return f"""
    WITH matched AS (
        SELECT b.*, o.id AS offer_id, o.price_per_hour AS old_price, o.currency AS old_currency,
               (o.status <> %(active)s OR {differs}) AS changed
        FROM {BATCH_TABLE} b LEFT JOIN {offer} o ON {identity_match}
    ),
    bumped AS (
        UPDATE {offer} o SET observed_at = greatest(o.observed_at, %(now)s)
        WHERE o.id = ANY(ARRAY(SELECT offer_id FROM matched WHERE NOT changed))
        RETURNING o.id
    ),
    rewritten AS (
        UPDATE {offer} o
        SET {assign}, observed_at = greatest(o.observed_at, %(now)s), updated_at = %(now)s,
            status = %(active)s
        FROM matched m
        WHERE o.id = ANY(ARRAY(SELECT offer_id FROM matched WHERE changed))
          AND o.id = m.offer_id
        RETURNING o.id, o.price_per_hour, o.currency, m.old_price, m.old_currency, o.created_at,
                  (o.price_per_hour, o.currency) IS DISTINCT FROM (m.old_price, m.old_currency)
                  AS repriced
    ),
    inserted AS (
        INSERT INTO {offer} ({columns}, {", ".join(INSERT_DEFAULTS)})
        SELECT {columns}, %(now)s, %(active)s, false, '', %(now)s, %(now)s
        FROM matched WHERE offer_id IS NULL ORDER BY seq  -- ids follow the batch order
        -- another writer may have inserted the key since our snapshot: take it over (as a
        -- new offer listed twice at once: no history point for the price it replaces)
        ON CONFLICT (provider_id, sku, region, zone, pricing) DO UPDATE
        SET {excluded}, observed_at = greatest({offer}.observed_at, EXCLUDED.observed_at),
            updated_at = EXCLUDED.updated_at,
            status = EXCLUDED.status
        RETURNING (xmax = 0) AS is_new
    ),
    history AS (  -- the first change of an offer also records the price it had since listed
        INSERT INTO {history} (offer_id, price_per_hour, currency, observed_at)
        SELECT id, old_price, old_currency, created_at FROM rewritten r
        WHERE repriced AND NOT EXISTS (SELECT FROM {history} h WHERE h.offer_id = r.id)
        UNION ALL
        SELECT id, price_per_hour, currency, %(now)s FROM rewritten WHERE repriced
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM inserted WHERE is_new),
           (SELECT count(*) FROM inserted WHERE NOT is_new) + (SELECT count(*) FROM rewritten),
           (SELECT count(*) FROM bumped),
           (SELECT count(*) FROM history)
    """


# A batch none of whose offers exists yet (the first refresh of a catalog, a new file) needs
# none of the matching above: a plain INSERT, without ON CONFLICT's speculative insertion.
# Whether any key exists is asked first; should another writer insert one of the keys in
# between, the INSERT fails on the unique index and the batch goes the general way.
@functools.cache
def _insert_sql() -> str:
    columns = ", ".join(BATCH_COLUMNS)
    return f"""
    INSERT INTO {Offer._meta.db_table} ({columns}, {", ".join(INSERT_DEFAULTS)})
    SELECT {columns}, %(now)s, %(active)s, false, '', %(now)s, %(now)s
    FROM {BATCH_TABLE} ORDER BY seq  -- ids follow the batch order
    """


@functools.cache
def _any_existing_sql() -> str:
    identity_match = " AND ".join(f"o.{f} = b.{f}" for f in IDENTITY_FIELDS)
    return f"""
    SELECT EXISTS (
        SELECT 1 FROM {BATCH_TABLE} b JOIN {Offer._meta.db_table} o ON {identity_match}
    )"""


def commit_without_waiting(cursor) -> None:
    """This transaction's commit returns before its WAL is flushed to disk.

    Safe for offer writes: a crash can lose only the last few hundred milliseconds of
    commits, and never half of one (the WAL is still written in order, so the database stays
    consistent). A lost batch of a pricing sync is rewritten by the next refresh; the sync
    record is saved at the end with an ordinary, flushed commit, which flushes every earlier
    commit of the WAL with it, so a sync recorded as finished never lacks its offers. A
    provider's own list (the provider API) is answered only after its commit: there the
    caller's transaction keeps the server's setting.
    """
    if connection.in_atomic_block and len(connection.atomic_blocks) > 1:
        return  # inside a caller's transaction: its durability is the caller's choice
    cursor.execute("SET LOCAL synchronous_commit = off")


def _create_batch_table(cursor) -> None:
    # Same column types as the offer table (CREATE TABLE AS keeps them), no constraints.
    cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{BATCH_TABLE}")
    cursor.execute(
        f"CREATE TEMPORARY TABLE {BATCH_TABLE} ON COMMIT DROP AS "
        f"SELECT 0 AS seq, {', '.join(BATCH_COLUMNS)} FROM {Offer._meta.db_table} WITH NO DATA"
    )


@dataclass(frozen=True)
class PreparedBatch:
    """A deduplicated batch as COPY text, a line per offer (columns in LINE_COLUMNS order):
    built in Python without the database, so that a sync can prepare the next batch while
    the database writes this one."""

    lines: list[str]

    @property
    def rows(self) -> int:
        return len(self.lines)

    def batch_table_data(self) -> bytes:
        """For the batch table: each line numbered, so that ids can follow the batch order."""
        return "".join([f"{seq}\t{line}" for seq, line in enumerate(self.lines)]).encode()

    def new_offer_data(self, observed_at: datetime) -> bytes:
        """For the offer table itself: each line completed with INSERT_DEFAULTS' values."""
        stamp = observed_at.isoformat()
        defaults = f"\t{stamp}\t{OfferStatus.ACTIVE}\tf\t\t{stamp}\t{stamp}\n"
        # a line's only newline is its last character: texts' newlines are escaped
        return "".join(self.lines).replace("\n", defaults).encode()


def offer_batch_prepare(*, batch: Sequence[OfferInput]) -> PreparedBatch:
    """The batch's COPY lines in price-per-GPU-hour order: consecutive rows then go to
    neighbouring entries of the price-ordered indexes, whose pages are still in the CPU's
    cache (figures: docs/refresh.md, Speed)."""
    keyed = [_copy_line(item) for item in _dedupe(batch)]
    keyed.sort(key=_PRICE_ORDER)
    return PreparedBatch(lines=[line for _, line in keyed])


_PRICE_ORDER = operator.itemgetter(0)


def _copy_line(item: OfferInput) -> tuple[Decimal, str]:
    """(price per GPU-hour, one line of COPY text), the line's columns in LINE_COLUMNS order:
    the numbers, then the texts, escaped for COPY together (spelled out: this runs once per
    offer of every sync). NUL, which no text may hold (`offer_input_problem`; PostgreSQL
    refuses it too), stands for the tab between two texts while they are escaped."""
    price, per_gpu = item.prices()
    texts = "\x00".join(
        (item.sku, item.region, item.zone, item.pricing, item.country, item.continent,
         item.currency, item.interconnect, _extra_json(item.extra))
    )  # fmt: skip
    if _needs_escapes(texts):  # rare: `translate` looks each character up in a dict
        texts = texts.translate(_COPY_ESCAPES)
    return per_gpu, (
        f"{item.provider_id}\t{_nullable(item.gpu_id)}\t{item.gpu_count}\t"
        f"{item.gpu_memory_gb}\t{item.vcpus}\t{item.memory_gb}\t{item.disk_gb}\t{price}\t"
        f"{per_gpu}\t{item.available}\t{_nullable(item.reliability)}\t"
        f"{_nullable(item.feed_id)}\t{texts.replace(NUL, TAB)}\n"
    )


def _needs_escapes(text: str) -> bool:
    return "\\" in text or "\t" in text or "\n" in text or "\r" in text


LINE_COLUMNS = (
    "provider_id", "gpu_id", "gpu_count", "gpu_memory_gb", "vcpus", "memory_gb",
    "disk_gb", "price_per_hour", "price_per_gpu_hour", "available", "reliability", "feed_id",
    "sku", "region", "zone", "pricing", "country", "continent", "currency", "interconnect",
    "extra",
)  # fmt: skip
NUL, TAB = "\x00", "\t"

# COPY's text format: tab-separated, \N for NULL, backslash escapes for the characters the
# format uses (https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.2).
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _nullable(value) -> str:
    return "\\N" if value is None else str(value)  # int, Decimal: valid PostgreSQL input


def _extra_json(extra: dict) -> str:
    if not extra:
        return "{}"
    text = json.dumps(extra, separators=(",", ":"), default=str)
    # jsonb refuses NUL and lone surrogates: both are escaped in the text ("\u0000",
    # "\udXXX"), and the rare text with such an escape has them dropped
    if "\\u0000" in text or "\\ud" in text:
        text = json.dumps(without_unstorable(extra), separators=(",", ":"), default=str)
    return text


def offer_upsert_batch(*, batch: Sequence[OfferInput], observed_at: datetime) -> UpsertCounts:
    """Insert new offers, update changed ones, refresh `observed_at` of unchanged ones, and
    put every offer of the batch back to `active`.

    Price history gains points for price changes only (see OfferPrice). A few
    statements per batch whatever its size (see the comment above `_upsert_sql`).
    """
    return offer_upsert_prepared(prepared=offer_batch_prepare(batch=batch), observed_at=observed_at)


def offer_upsert_prepared(
    *, prepared: PreparedBatch, observed_at: datetime, expect_new: bool = False
) -> UpsertCounts:
    """`offer_upsert_batch` for a batch `offer_batch_prepare` made. `expect_new`: the caller
    expects none of the batch's offers to exist (the previous batch of a sync was all new):
    the batch is first COPYed straight into the offer table."""
    if not prepared.rows:
        return UpsertCounts()
    # The batch table goes at commit (ON COMMIT DROP), or at the next call in the same
    # transaction (DROP IF EXISTS).
    with transaction.atomic(), connection.cursor() as cursor:
        commit_without_waiting(cursor)
        if expect_new and _copy_new_offers(cursor, prepared, observed_at):
            return UpsertCounts(created=prepared.rows)
        _load_batch(cursor, prepared)
        return _upsert_loaded(cursor, observed_at)


def _copy_new_offers(cursor, prepared: PreparedBatch, observed_at: datetime) -> bool:
    """COPY the batch into the offer table; False (nothing written) when one of its offers
    exists already. Cheaper than the batch-table way for new offers: no batch table, no
    matching, and COPY writes the table's pages a buffer of rows at a time (docs/refresh.md,
    Speed). A batch that was not all new fails at its first existing offer (within COPY's
    first buffer of rows), so guessing wrong costs little."""
    columns = ", ".join((*LINE_COLUMNS, *INSERT_DEFAULTS))
    try:
        with (
            transaction.atomic(),  # a savepoint: a failed COPY undoes only itself
            cursor.copy(f"COPY {Offer._meta.db_table} ({columns}) FROM STDIN") as copy,
        ):
            copy.write(prepared.new_offer_data(observed_at))
    except UniqueViolation:
        return False
    return True


def _load_batch(cursor, prepared: PreparedBatch) -> None:
    _create_batch_table(cursor)
    columns = ", ".join(("seq", *LINE_COLUMNS))
    with cursor.copy(f"COPY {BATCH_TABLE} ({columns}) FROM STDIN") as copy:
        copy.write(prepared.batch_table_data())


def _upsert_loaded(cursor, observed_at: datetime) -> UpsertCounts:
    params = {"now": observed_at, "active": OfferStatus.ACTIVE}
    if (created := _insert_if_all_new(cursor, params)) is not None:
        return UpsertCounts(created=created)
    cursor.execute(_upsert_sql(), params)
    created, updated, unchanged, _history = cursor.fetchone()
    return UpsertCounts(created=created, updated=updated, unchanged=unchanged)


def _insert_if_all_new(cursor, params: dict) -> int | None:
    """Offers inserted, when no offer of the batch exists yet; None otherwise (nothing done)."""
    cursor.execute(_any_existing_sql())
    if cursor.fetchone()[0]:
        return None
    try:
        with transaction.atomic():  # a savepoint: a key inserted meanwhile undoes only this
            cursor.execute(_insert_sql(), params)
            return cursor.rowcount
    except IntegrityError:
        return None
