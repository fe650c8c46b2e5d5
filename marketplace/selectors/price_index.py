"""The price index: per GPU model and day, the P10 / median / P90 price per GPU-hour of the
offers in force that day, from the price history (issue 16; docs/api.md, "Price index").

What a day counts. Every offer listed at some time of the day counts once, at the price it
had at the end of the day (or when it was last seen, if it was withdrawn that day): a day's
distribution is the catalog as it stood, not only the prices that changed that day.
`OfferPrice` stores points only on change (its docstring), so an offer's price on a day is
the last point before the day's end, or, for an offer that never changed, its own price
since `created_at`. A withdrawn offer counts until it was last seen (`observed_at`: withdrawal
records no time of its own; the sync that withdraws it is the first not to see it); a listed
one (active, stale) until now.

Percentiles are those of PostgreSQL's `percentile_cont` (linear interpolation between the two
nearest ranks, as numpy's default), over prices per GPU-hour kept to the 6 places rates keep
(the offer's `price_per_gpu_hour` rule), computed exactly (marketplace/price_percentiles.py:
one statement gives each price with its range of days, the days are swept in Python) and
rounded once for display (`common.money.round_amount`).

Where the figures come from. Computing them reads every offer of the GPU model listed in the
window and every price it had: a second or two for a common model of a million-offer catalog,
of which the scan of the offer table alone is a few hundred milliseconds even for today only
(bench/price_index.py). A past day's figures cannot change once the day is over, so each day's
row is kept (`PriceIndexRow`): `price_index_compute` reads the window's rows and computes live
(`price_index_live`, one statement from the first day it lacks to today) only the days it
finds missing, storing them for the next reader. A row computed `FINAL_AFTER` past its day's
end is final; an earlier one (today's; yesterday's just after midnight) is used while it is
younger than `provisional_max_age()`: the beat (`brokers.refresh_price_index`, services/
price_index_rollup.py) recomputes those every PRICE_INDEX_REFRESH_SECONDS, so a page reads
rows only.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from common.errors import DomainError
from common.money import round_amount
from marketplace import gpu_names
from marketplace.locations import CONTINENTS
from marketplace.models import (
    GpuModel,
    Offer,
    OfferPrice,
    OfferStatus,
    PriceIndexRow,
    PricingModel,
)
from marketplace.price_percentiles import DayFigures, daily_percentiles
from marketplace.search.gpu_labels import suggest_gpu_name

WINDOWS = (7, 30, 90)  # days
DEFAULT_WINDOW = 30
DEFAULT_GPU = "H100"
CURRENCY = "USD"  # the catalog's prices are in dollars; other currencies are left out
# An index is kept this long, keyed by its parameters and the day: it reads stored rows
# (a few milliseconds), so the cache only spares the database the repeats of a busy page.
CACHE_SECONDS = 60
CACHE_VERSION = "v1"
# A day's row is final when computed this long after the day ended: a sync that started
# before midnight may commit points and sightings stamped before it a few minutes later.
FINAL_AFTER = timedelta(hours=1)
TENTHS = (1, 5, 9)  # P10, median, P90
# How long a page waits to store the rows it computed: the beat may hold the same keys in its
# transaction (its first run, about a minute), and the page has its answer already.
PAGE_LOCK_TIMEOUT = "200ms"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PriceIndexQuery:
    """What to index: checked and canonical (see `price_index_query`)."""

    gpu: str  # canonical name, every memory variant (A100 = 40 GB and 80 GB)
    pricing: str = ""  # one of PricingModel, or "" for all
    continent: str = ""  # one of marketplace.locations.CONTINENTS, or "" for all
    days: int = DEFAULT_WINDOW


@dataclass(frozen=True)
class PriceIndexDay:
    day: date  # UTC
    p10: Decimal | None  # per GPU-hour, rounded for display; None when no offer that day
    median: Decimal | None
    p90: Decimal | None
    offers: int
    providers: int


@dataclass(frozen=True)
class PriceIndex:
    query: PriceIndexQuery
    currency: str
    rows: list[PriceIndexDay]  # oldest first, one per day of the window, today last


def price_index_gpu_names() -> list[str]:
    """The canonical GPU names an index can be asked for, alphabetically."""
    return list(GpuModel.objects.order_by("name").values_list("name", flat=True).distinct())


def price_index_query(
    *, gpu: str | None, pricing: str | None = None, continent: str | None = None, days=None
) -> PriceIndexQuery:
    """The index parameters from what a user sent (strings, maybe empty or missing), checked:
    a `DomainError` (400) names what is wrong."""
    return PriceIndexQuery(
        gpu=_canonical_gpu(gpu or DEFAULT_GPU),
        pricing=_pricing(pricing or ""),
        continent=_continent(continent or ""),
        days=_window(days),
    )


def _canonical_gpu(label: str) -> str:
    name = gpu_names.normalize_label(label.strip()) if len(label) <= 100 else None
    if name is None or not GpuModel.objects.filter(name=name).exists():
        suggestion = suggest_gpu_name(label[:100])
        hint = f" Did you mean {suggestion}?" if suggestion else ""
        raise DomainError(
            "unknown_gpu",
            f"Unknown GPU model {label[:100]!r}.{hint} GET /api/v1/gpus/ lists them.",
            suggestion=suggestion,
        )
    return name


def _pricing(value: str) -> str:
    if value and value not in PricingModel.values:
        raise DomainError(
            "invalid_pricing",
            f"Unknown pricing model; one of: {', '.join(PricingModel.values)}.",
        )
    return value


def _continent(value: str) -> str:
    code = value.strip().upper()
    if code and code not in CONTINENTS:
        raise DomainError(
            "invalid_continent", f"Unknown continent; one of: {', '.join(CONTINENTS)}."
        )
    return code


def _window(value) -> int:
    if value in (None, ""):
        return DEFAULT_WINDOW
    if str(value).strip() not in {str(w) for w in WINDOWS}:
        raise DomainError(
            "invalid_window",
            f"The window is a number of days, one of: {', '.join(map(str, WINDOWS))}.",
        )
    return int(str(value).strip())


def price_index(*, query: PriceIndexQuery, now: datetime | None = None) -> PriceIndex:
    """The index for `query` over the window ending today (UTC), cached `CACHE_SECONDS`."""
    today = (now or timezone.now()).astimezone(UTC).date()
    key = _cache_key(query, today)
    index = cache.get(key)
    if index is None:
        index = price_index_compute(query=query, today=today)
        cache.set(key, index, CACHE_SECONDS)
    return index


def _cache_key(query: PriceIndexQuery, today: date) -> str:
    text = f"{query.gpu}|{query.pricing}|{query.continent}|{query.days}|{today.isoformat()}"
    return f"price-index-{CACHE_VERSION}-{hashlib.sha256(text.encode()).hexdigest()[:32]}"


def price_index_compute(*, query: PriceIndexQuery, today: date) -> PriceIndex:
    """The index, uncached: the stored rows of the window, and the days without a usable row
    computed live (one statement from the first such day to today) and stored after commit."""
    first = today - timedelta(days=query.days - 1)
    rows = _stored_rows(query, first=first, today=today)
    window = [first + timedelta(days=n) for n in range(query.days)]
    missing = [day for day in window if day not in rows]
    if missing:
        computed_at = timezone.now()  # before the read: a row is no newer than its data
        live = price_index_live(query=query, today=today, first=missing[0])
        rows |= {row.day: row for row in live.rows}
        # robust: rows not stored only cost the next reader the same computation
        transaction.on_commit(lambda: _store_read(live, computed_at), robust=True)
    return PriceIndex(query=query, currency=CURRENCY, rows=[rows[day] for day in window])


def price_index_live(
    *, query: PriceIndexQuery, today: date, first: date | None = None
) -> PriceIndex:
    """The index computed from the offers and their price history (one statement, then
    `daily_percentiles`), for the days from `first` (default: the window's first) to today."""
    first = first or today - timedelta(days=query.days - 1)
    spans = price_spans(query, first=first, today=today)  # Span tuples
    return price_index_from_spans(query, spans, first=first, today=today)


def price_index_from_spans(
    query: PriceIndexQuery, spans: list[tuple], *, first: date, today: date
) -> PriceIndex:
    days = (today - first).days + 1
    figures = daily_percentiles(spans, days=days, tenths=TENTHS)
    rows = [_day_row(first + timedelta(days=n), day) for n, day in enumerate(figures)]
    return PriceIndex(query=query, currency=CURRENCY, rows=rows)


def provisional_max_age() -> timedelta:
    """How long a row computed before its day was final is used: two beat periods, so that
    one late run of the beat does not send pages to the live computation."""
    return timedelta(seconds=2 * settings.PRICE_INDEX_REFRESH_SECONDS)


def is_final(day: date, computed_at: datetime) -> bool:
    return computed_at >= _midnight(day + timedelta(days=1)) + FINAL_AFTER


def _stored_rows(query: PriceIndexQuery, *, first: date, today: date) -> dict[date, PriceIndexDay]:
    """The window's stored rows that can be used: final ones, and recent provisional ones."""
    fresh_since = timezone.now() - provisional_max_age()
    found = PriceIndexRow.objects.filter(
        gpu=query.gpu,
        pricing=query.pricing,
        continent=query.continent,
        day__range=(first, today),
        currency=CURRENCY,
    ).values_list("day", "p10", "median", "p90", "offers", "providers", "computed_at")
    return {
        day: PriceIndexDay(day, *(_stored(p) for p in (p10, median, p90)), offers, providers)
        for day, p10, median, p90, offers, providers, computed_at in found
        if computed_at >= fresh_since or is_final(day, computed_at)
    }


def _stored(value: Decimal | None) -> Decimal | None:
    return None if value is None else round_amount(value, CURRENCY)  # 2.000000 -> 2.00


def _store_read(index: PriceIndex, computed_at: datetime) -> None:
    """Store what a page computed, unless the beat holds those rows (it writes the same)."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL lock_timeout = '{PAGE_LOCK_TIMEOUT}'")
            store_price_index_rows([index], computed_at=computed_at)
    except OperationalError as exc:  # lock timeout, deadlock
        logger.info("price index rows not stored: %s", exc)


def store_price_index_rows(indexes: list[PriceIndex], *, computed_at: datetime) -> None:
    """Upsert the indexes' rows (one statement): safe to repeat, and a later computation
    replaces an earlier one."""
    PriceIndexRow.objects.bulk_create(
        [
            PriceIndexRow(
                gpu=index.query.gpu,
                pricing=index.query.pricing,
                continent=index.query.continent,
                day=row.day,
                currency=index.currency,
                p10=row.p10,
                median=row.median,
                p90=row.p90,
                offers=row.offers,
                providers=row.providers,
                computed_at=computed_at,
            )  # fmt: skip
            for index in indexes
            for row in index.rows
        ],
        update_conflicts=True,
        unique_fields=["gpu", "pricing", "continent", "day"],
        update_fields=["currency", "p10", "median", "p90", "offers", "providers", "computed_at"],
    )


def _day_row(day: date, figures: DayFigures) -> PriceIndexDay:
    if figures.percentiles is None:
        return PriceIndexDay(day, None, None, None, 0, 0)
    p10, median, p90 = (_display(micros) for micros in figures.percentiles)
    return PriceIndexDay(day, p10, median, p90, figures.count, figures.groups)


def _display(micros: Decimal) -> Decimal:
    return round_amount(micros.scaleb(-6), CURRENCY)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


# Each price an offer of the GPU model (and pricing model, continent) had, as the range of
# window days it counts on (0 = the window's first day): `Span`s. A
# price [since, until) counts on the days whose end it was in force at (since < end <= until)
# while the offer was still seen (its `gone_at` on or after the day's start): from the day of
# `since` to the day before `until`'s day-end, and not past `gone_at`'s day or today.
# Prices per GPU-hour are in millionths (the 6 places of `price_per_gpu_hour`), as integers.
# Table names come from the models; values are bound parameters.
_SQL = """
WITH offer AS (  -- listed and withdrawn apart: each has an index by GPU model
    SELECT o.id, o.provider_id, o.gpu_count, o.created_at, o.price_per_hour, o.currency,
           o.pricing, o.continent, o.gpu_id, 'infinity'::timestamptz AS gone_at
    FROM {offer} o
    WHERE {models} AND o.status IN (%(active)s, %(stale)s)
      AND o.gpu_count > 0 {filters} AND o.created_at < %(end)s
    UNION ALL
    SELECT o.id, o.provider_id, o.gpu_count, o.created_at, o.price_per_hour, o.currency,
           o.pricing, o.continent, o.gpu_id, o.observed_at
    FROM {offer} o
    WHERE {models} AND o.status = %(withdrawn)s AND o.observed_at >= %(start)s
      AND o.gpu_count > 0 {filters} AND o.created_at < %(end)s
),
point AS (
    SELECT h.offer_id, h.price_per_hour, h.currency, h.observed_at AS since,
           lead(h.observed_at, 1, 'infinity') OVER (
               PARTITION BY h.offer_id ORDER BY h.observed_at, h.id) AS until
    FROM {history} h JOIN offer o ON o.id = h.offer_id
),
price AS (
    SELECT o.provider_id, o.gone_at, o.pricing, o.continent, o.gpu_id,
           (round(coalesce(p.price_per_hour, o.price_per_hour) / o.gpu_count, 6)
            * 1000000)::bigint AS micros,
           coalesce(p.since, o.created_at) AS since,
           coalesce(p.until, 'infinity') AS until
    FROM offer o LEFT JOIN point p ON p.offer_id = o.id
    WHERE coalesce(p.currency, o.currency) = %(currency)s
),
days AS (
    SELECT micros, provider_id, pricing, continent, gpu_id,
           greatest((since AT TIME ZONE 'UTC')::date, %(first)s) AS first_day,
           least(((until - interval '1 day') AT TIME ZONE 'UTC')::date,
                 (gone_at AT TIME ZONE 'UTC')::date, %(today)s) AS last_day
    FROM price
)
SELECT micros, provider_id, first_day - %(first)s, last_day - %(first)s {labels}
FROM days {join} WHERE first_day <= last_day {order}
"""


def price_spans(query: PriceIndexQuery, *, first: date, today: date) -> list[tuple]:
    """`Span` tuples of the query's offers from `first` to today."""
    filters, params = "", {"gpu": query.gpu}
    if query.pricing:
        filters += " AND o.pricing = %(pricing)s"
        params["pricing"] = query.pricing
    if query.continent:
        filters += " AND o.continent = %(continent)s"
        params["continent"] = query.continent
    models = f"o.gpu_id = ANY(ARRAY(SELECT g.id FROM {GpuModel._meta.db_table} g WHERE g.name = %(gpu)s))"  # fmt: skip
    sql = _spans_sql(models=models, filters=filters, labels="", join="", order="")
    with connection.cursor() as cursor:
        cursor.execute(sql, params | _span_params(first, today))
        return cursor.fetchall()


def price_spans_by_model(*, first: date, today: date) -> Iterator[tuple[str, list[tuple]]]:
    """Every GPU model's spans from `first` to today, by canonical name (models without any
    left out), each span followed by its offer's pricing model and continent: one statement,
    read a model at a time (a server-side cursor: call it inside a transaction)."""
    sql = _spans_sql(
        models="true",
        filters="",
        labels=", pricing, continent, g.name",
        join=f"JOIN {GpuModel._meta.db_table} g ON g.id = days.gpu_id",
        order="ORDER BY g.name",
    )
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, _span_params(first, today))
        model, spans = None, []
        while batch := cursor.fetchmany(10_000):
            for row in batch:
                if row[6] != model:
                    if spans:
                        yield model, spans
                    model, spans = row[6], []
                spans.append(row[:6])
        if spans:
            yield model, spans


def _spans_sql(**parts: str) -> str:
    return _SQL.format(offer=Offer._meta.db_table, history=OfferPrice._meta.db_table, **parts)


def _span_params(first: date, today: date) -> dict:
    return {
        "active": OfferStatus.ACTIVE,
        "stale": OfferStatus.STALE,
        "withdrawn": OfferStatus.WITHDRAWN,
        "first": first,
        "today": today,
        "start": _midnight(first),
        "end": _midnight(today + timedelta(days=1)),
        "currency": CURRENCY,
    }
