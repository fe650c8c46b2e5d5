"""The price index's stored rows (`PriceIndexRow`), kept by the beat
(`brokers.refresh_price_index`) so that the pages, the CSV and the API read rows instead of the
catalog (docs/api.md, "Price index"; the figures: selectors/price_index.py).

Each run recomputes, for every GPU model with offers, the days of the longest window that have no final
row for every filter (today's row always; every day on a first run, or after a crash): one
statement reads the model's offers from the first such day on, and the spans are split by
pricing model and continent in Python for each filter. Rows are upserted, so a second run, or
one overlapping another, writes the same figures; rows older than the longest window go.
"""

from __future__ import annotations

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
    price_index_gpu_names,
    price_spans,
    store_price_index_rows,
)

# every filter a page can ask for: (pricing, continent), "" = any
FILTERS = [(pricing, continent) for pricing in ("", *PricingModel.values) for continent in ("", *CONTINENTS)]  # fmt: skip
HORIZON_DAYS = max(WINDOWS)


def refresh_price_index_rows(*, now: datetime | None = None) -> int:
    """Recompute the rows that are not final yet; the number of rows written."""
    today = (now or timezone.now()).astimezone(UTC).date()
    oldest = today - timedelta(days=HORIZON_DAYS - 1)
    PriceIndexRow.objects.filter(day__lt=oldest).delete()
    return sum(_refresh_gpu(gpu, oldest=oldest, today=today) for gpu in price_index_gpu_names())


def _refresh_gpu(gpu: str, *, oldest: date, today: date) -> int:
    first = _first_unfinished_day(gpu, oldest=oldest, today=today)
    computed_at = timezone.now()  # before the read: a row is no newer than its data
    spans = price_spans(PriceIndexQuery(gpu=gpu), first=first, today=today, labelled=True)
    days = (today - first).days + 1
    if not spans:  # no offer: a page asking computes it live (a few ms, no rows to read)
        return 0
    with transaction.atomic():
        for pricing, continent in FILTERS:
            query = PriceIndexQuery(gpu=gpu, pricing=pricing, continent=continent, days=days)
            chosen = [
                span[:4]
                for span in spans
                if (not pricing or span[4] == pricing) and (not continent or span[5] == continent)
            ]
            index = price_index_from_spans(query, chosen, first=first, today=today)
            store_price_index_rows(query, index.rows, computed_at=computed_at)
    return len(FILTERS) * days


# The days of the horizon whose rows are final for every filter (`is_final`, in SQL).
_FINAL_DAYS_SQL = """
SELECT day FROM {table}
WHERE gpu = %(gpu)s AND day BETWEEN %(oldest)s AND %(today)s
  AND computed_at >= ((day + 1)::timestamp AT TIME ZONE 'UTC') + %(final_after)s
GROUP BY day HAVING count(*) >= %(filters)s
"""


def _first_unfinished_day(gpu: str, *, oldest: date, today: date) -> date:
    with connection.cursor() as cursor:
        cursor.execute(
            _FINAL_DAYS_SQL.format(table=PriceIndexRow._meta.db_table),
            {
                "gpu": gpu,
                "oldest": oldest,
                "today": today,
                "final_after": FINAL_AFTER,
                "filters": len(FILTERS),
            },
        )
        final = {row[0] for row in cursor.fetchall()}
    day = oldest
    while day in final and day < today:
        day += timedelta(days=1)
    return day
