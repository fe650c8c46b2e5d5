"""The price index's stored rows (`PriceIndexRow`), kept by the beat
(`brokers.refresh_price_index`) so that the pages, the CSV and the API read rows instead of the
catalog (docs/api.md, "Price index"; the figures: selectors/price_index.py).

Each run recomputes the days of the longest window from the first one that some GPU model
lacks a final row of for some filter (today, as a rule; every day on a first run, or after a
crash): one statement reads every model's offers from that day on, a model at a time, and
its spans are split by pricing model and continent in Python for each filter. A model that
has rows but no offers any more gets rows without offers; a model that never had any gets no
rows (a page asking for it computes it live, in milliseconds: nothing to read). Rows are
upserted in one transaction, so a second run, one after a crash or one overlapping another
writes the same figures; rows older than the longest window go.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from marketplace.locations import CONTINENTS
from marketplace.models import PriceIndexRow, PricingModel
from marketplace.selectors.price_index import (
    FINAL_AFTER,
    WINDOWS,
    PriceIndexQuery,
    price_index_from_spans,
    price_spans_by_model,
    store_price_index_rows,
)

# every filter a page can ask for: (pricing, continent), "" = any
FILTERS = [(pricing, continent) for pricing in ("", *PricingModel.values) for continent in ("", *CONTINENTS)]  # fmt: skip
HORIZON_DAYS = max(WINDOWS)


def refresh_price_index_rows(*, now: datetime | None = None) -> int:
    """Recompute the rows that are not final yet; the number of rows written."""
    today = (now or timezone.now()).astimezone(UTC).date()
    oldest = today - timedelta(days=HORIZON_DAYS - 1)
    written = 0
    with transaction.atomic():
        PriceIndexRow.objects.filter(day__lt=oldest).delete()
        first_unfinished = _first_unfinished_days(oldest=oldest, today=today)
        first = min(first_unfinished.values(), default=oldest)
        computed_at = timezone.now()  # before the read: a row is no newer than its data
        for gpu, spans in price_spans_by_model(first=first, today=today):
            written += _store(gpu, spans, first=first, today=today, computed_at=computed_at)
            first_unfinished.pop(gpu, None)
        for gpu in first_unfinished:  # rows, and no offer left since `first`
            written += _store(gpu, [], first=first, today=today, computed_at=computed_at)
    return written


def _store(gpu: str, spans: list[tuple], *, first: date, today: date, computed_at) -> int:
    days = (today - first).days + 1
    by_filter = defaultdict(list)  # a span counts for any pricing, any continent, and its own
    for span in spans:
        value, pricing, continent = span[:4], span[4], span[5]
        # a set: an offer without a continent counts once for "everywhere", not twice
        for key in {("", ""), (pricing, ""), ("", continent), (pricing, continent)}:
            by_filter[key].append(value)
    indexes = [
        price_index_from_spans(
            PriceIndexQuery(gpu=gpu, pricing=pricing, continent=continent, days=days),
            by_filter[(pricing, continent)],
            first=first,
            today=today,
        )
        for pricing, continent in FILTERS
    ]
    store_price_index_rows(indexes, computed_at=computed_at)
    return len(FILTERS) * days


# For each model with rows in the horizon and each day, how many of its rows are final
# (`selectors.price_index.is_final`, in SQL).
_FINAL_ROWS_SQL = """
SELECT gpu, day,
       count(*) FILTER (
           WHERE computed_at >= ((day + 1)::timestamp AT TIME ZONE 'UTC') + %(final_after)s)
FROM {table}
WHERE day BETWEEN %(oldest)s AND %(today)s
GROUP BY gpu, day
"""


def _first_unfinished_days(*, oldest: date, today: date) -> dict[str, date]:
    """For each GPU model with rows, the first day of the horizon without a final row for
    every filter (today at the latest: today's rows are never final)."""
    final = defaultdict(set)
    with connection.cursor() as cursor:
        cursor.execute(
            _FINAL_ROWS_SQL.format(table=PriceIndexRow._meta.db_table),
            {"oldest": oldest, "today": today, "final_after": FINAL_AFTER},
        )
        for gpu, day, finals in cursor.fetchall():
            final[gpu] |= {day} if finals >= len(FILTERS) else set()
    first = {}
    for gpu, days in final.items():
        day = oldest
        while day in days and day < today:
            day += timedelta(days=1)
        first[gpu] = day
    return first
