"""`python -m bench price-index`: the price index (marketplace/selectors/price_index.py) over a
million offers with price history.

The catalog is the search benchmark's generator (bench/catalog.py), then given a past: offers
listed over the last 180 days (`created_at`), withdrawn ones last seen some time after that,
and a fifth of the offers repriced one to three times since listing, with the history points
a price sync writes (the listing price at `created_at`, then each new price; the last one is
the offer's price now). Kept in `<DATABASE_URL's database>_bench_prices` between runs.

Timed, for a mix of GPU models (common, middling, rare), windows (7, 30, 90 days), pricing and
continent filters, after one warm-up pass, in one run:
- before: the live computation every uncached view made (`price_index_live`: one statement,
  then the sweep over the days in Python; the statement's share is shown);
- the beat's task (`refresh_price_index_rows`): its first run (every day of 90, every model
  and filter, from no rows) and a run after it (today only);
- after: an uncached view (`price_index_compute`) reading the stored rows, as it does while the
  beat keeps today's rows recent; and the same with today's row missing (the beat late or
  stopped: today computed live, the rest read);
- the cached path (`price_index`, what the page, CSV and API call).
The slowest live statement is shown with EXPLAIN (ANALYZE, BUFFERS).
Results: bench/results/price-index.txt.
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.base import (
    BenchCommand,
    bench_database_url,
    cpu_probe_seconds,
    ensure_database,
    setup_django,
)
from bench.base import Report as BaseReport

RESULTS = Path(__file__).resolve().parent / "results" / "price-index.txt"
# (GPU, pricing, continent, days): H100 is the commonest model (~10% of the catalog), T4 a
# middling one, MI300X a rarer one.
CASES = [
    ("H100", "", "", 7),
    ("H100", "", "", 30),
    ("H100", "", "", 90),
    ("H100", "on_demand", "", 90),
    ("H100", "", "EU", 90),
    ("H100", "spot", "NA", 30),
    ("RTX4090", "", "", 90),
    ("T4", "", "", 30),
    ("T4", "on_demand", "EU", 90),
    ("MI300X", "", "", 90),
]
HISTORY_SQL = """
-- a past for the generated catalog: listed 0-180 days ago; withdrawn offers last seen
-- between their listing and now; a fifth of the offers repriced 1-3 times since listing
UPDATE marketplace_offer SET created_at = now() - random() * interval '180 days';
UPDATE marketplace_offer SET observed_at = created_at + random() * (now() - created_at)
WHERE status = 'withdrawn';
INSERT INTO marketplace_offerprice (offer_id, price_per_hour, currency, observed_at)
SELECT o.id,
       CASE WHEN n = changes THEN o.price_per_hour  -- the last point: the price now
            ELSE round(o.price_per_hour * (0.8 + random() * 0.4)::numeric, 6) END,
       o.currency,
       CASE WHEN n = 0 THEN o.created_at  -- the listing price, as the first change stores it
            ELSE o.created_at + (n - random() * 0.5) / changes
                                * (least(o.observed_at, now()) - o.created_at) END
FROM (SELECT *, 1 + (id % 3) AS changes FROM marketplace_offer WHERE id % 5 = 0) o,
     generate_series(0, o.changes) n;
"""


def add_arguments(parser) -> None:
    parser.add_argument("--offers", type=int, default=1_000_000, help="catalog size")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--rounds", type=int, default=3, help="timed passes over the mix")
    parser.add_argument("--regenerate", action="store_true", help="rebuild the catalog")


def run(args) -> int:
    url = bench_database_url(suffix="_bench_prices")
    ensure_database(url)
    setup_django(url)
    report = Report()
    report.line(f"GPU Market price index benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    report.line(f"CPU probe (bench/base.py): {cpu_probe_seconds():.2f} s")
    _prepare_catalog(args, report)
    live, statement = _time_mix(args.rounds, mode="live")
    report.table(
        "before: uncached, computed live (price_index_live: the statement, then the sweep)",
        live,
        statement,
    )
    report.line()
    report.line("the beat (refresh_price_index_rows), rows of every model with offers:")
    for label in ("first run, from no rows (90 days)", "next run (today)"):
        if label.startswith("first"):
            _empty_rows()
        started = time.perf_counter()
        written = _refresh()
        report.line(f"  {label:40}{time.perf_counter() - started:>8.1f} s{written:>9,} rows")
    rows, statement = _time_mix(args.rounds, mode="rows")
    report.table("after: uncached, the stored rows (price_index_compute)", rows, statement)
    today, statement = _time_mix(args.rounds, mode="today")
    report.table(
        "after, today's row missing (beat late): today live, the rest read", today, statement
    )
    cached, _ = _time_mix(args.rounds, mode="cached")
    report.table("cached (price_index: Redis, after the first call)", cached)
    worst = max(live, key=lambda label: statistics.median(live[label]))
    report.line()
    report.line(f"Plan of the slowest live case, {worst}:")
    report.line(_plan(*CASES[list(live).index(worst)]))
    report.save(RESULTS)
    return 0


def _empty_rows() -> None:
    from marketplace.models import PriceIndexRow

    PriceIndexRow.objects.all().delete()


def _refresh() -> int:
    from marketplace.services.price_index_rollup import refresh_price_index_rows

    return refresh_price_index_rows()


COMMAND = BenchCommand(
    help="price index (P10/median/P90 per day) over a million offers with price history",
    add_arguments=add_arguments,
    run=run,
)


def _prepare_catalog(args, report) -> None:
    from django.db import connection

    from bench import catalog
    from bench.refresh import empty_offer_tables
    from marketplace.models import Offer, OfferPrice

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_catalog (offers int, seed int)")
        cursor.execute("SELECT offers, seed FROM bench_catalog")
        marker = cursor.fetchone()
    if args.regenerate or marker != (args.offers, args.seed):
        report.line(f"generating the catalog ({args.offers:,} offers, seed {args.seed}) ...")
        empty_offer_tables()  # at once: the generator's ORM delete would load every offer
        catalog.generate(connection, offers=args.offers, seed=args.seed, log=report.line)
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("SELECT setseed(%s)", [args.seed / 1000])
            cursor.execute(HISTORY_SQL)
            cursor.execute("VACUUM (ANALYZE) marketplace_offer")
            cursor.execute("VACUUM (ANALYZE) marketplace_offerprice")
            cursor.execute("DELETE FROM bench_catalog")
            cursor.execute("INSERT INTO bench_catalog VALUES (%s, %s)", [args.offers, args.seed])
        report.line(f"  price history written in {time.perf_counter() - started:.0f} s")
    report.line(
        f"{Offer.objects.count():,} offers, {OfferPrice.objects.count():,} price history points"
    )


def _query(gpu: str, pricing: str, continent: str, days: int):
    from marketplace.selectors.price_index import price_index_query

    return price_index_query(gpu=gpu, pricing=pricing, continent=continent, days=str(days))


def _label(gpu: str, pricing: str, continent: str, days: int) -> str:
    return f"{gpu} {pricing or 'any'} {continent or 'world'} {days}d"


def _time_mix(rounds: int, *, mode: str) -> tuple[dict, dict]:
    """Seconds per case, of the whole call and of its SQL statements. `mode`: "live" (the
    computation from the offers), "rows" (the stored rows), "today" (rows, today's deleted
    before each call), "cached"."""
    from django.core.cache import cache
    from django.db import connection
    from django.utils import timezone

    from marketplace.models import PriceIndexRow
    from marketplace.selectors.price_index import (
        price_index,
        price_index_compute,
        price_index_live,
    )

    now = timezone.now()
    queries = {_label(*case): _query(*case) for case in CASES}

    def prepare(query):
        if mode == "today":
            PriceIndexRow.objects.filter(
                gpu=query.gpu, pricing=query.pricing, continent=query.continent, day=now.date()
            ).delete()

    def once(query):
        if mode == "cached":
            return price_index(query=query, now=now)
        if mode == "live":
            return price_index_live(query=query, today=now.date())
        return price_index_compute(query=query, today=now.date())

    if mode == "cached":
        cache.clear()
    for query in queries.values():  # warm-up: buffers, plans (and, cached, the cache)
        prepare(query)
        once(query)
    samples: dict[str, list[float]] = {label: [] for label in queries}
    in_sql: dict[str, list[float]] = {label: [] for label in queries}
    for _ in range(rounds):
        for label, query in queries.items():
            prepare(query)
            timer = _SqlTimer()
            with connection.execute_wrapper(timer):
                started = time.perf_counter()
                once(query)
                samples[label].append(time.perf_counter() - started)
            in_sql[label].append(timer.seconds)
    return samples, in_sql


class _SqlTimer:
    def __init__(self):
        self.seconds = 0.0

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started


def _plan(gpu: str, pricing: str, continent: str, days: int) -> str:
    from django.db import connection

    from marketplace.selectors import price_index as module

    captured = []

    def capture(execute, sql, params, many, context):
        captured.append((sql, params))
        return execute(sql, params, many, context)

    from django.utils import timezone

    now = timezone.now()
    with connection.execute_wrapper(capture):
        module.price_index_live(query=_query(gpu, pricing, continent, days), today=now.date())
    sql, params = captured[-1]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


class Report(BaseReport):
    def table(self, title: str, samples: dict, in_sql: dict | None = None) -> None:
        self.line()
        self.line(f"{title}, ms: median and worst of the timed passes")
        if in_sql:
            self.line(f"  {'':32}{'median':>10}{'worst':>10}{'SQL (median)':>14}")
        for label, times in samples.items():
            sql = f"{statistics.median(in_sql[label]) * 1000:>14.1f}" if in_sql else ""
            self.line(
                f"  {label:32}{statistics.median(times) * 1000:>10.1f}"
                f"{max(times) * 1000:>10.1f}{sql}"
            )
