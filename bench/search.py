"""`python -m bench search`: search and quote latency over a million offers.

Times the server-side paths (no HTTP): the catalog API's selector (`offer_search(...).page()`
and the offers' JSON) and the quote service (`quote_create`), over a fixed mix of 200
searches and 200 quote requests, after one warm-up pass. In the same run, a plain Python
linear scan over the same rows (loaded into memory once) answers a sample of the same
requests as the baseline; its answers are checked against the database's. The slowest
cases are listed, and the slowest statements shown with EXPLAIN (ANALYZE, BUFFERS).

The catalog is timed as a price sync leaves it (every row just updated, so index-only
answers are not available), unless --fresh. `--only search|quote` times one mix.
Results: bench/results/search.txt.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from bench.base import (
    BenchCommand,
    bench_database_url,
    cpu_probe_seconds,
    ensure_database,
    setup_django,
)
from bench.base import Report as BaseReport

RESULTS = Path(__file__).resolve().parent / "results" / "search.txt"
GPUS = ["H100", "A100", "H200", "L4", "L40S", "RTX_4090", "RTX_3090", "A10G", "T4", "MI300X"]
REGIONS = [
    "us-east-1", "eu-west-1", "europe-west4", "eastus", "us-texas-1", "ap-northeast-1",
    "westeurope", "us-central1", "de-frankfurt-1", "asia-southeast1",
]  # fmt: skip
PROVIDERS = [
    "vast", "runpod", "lambda", "aws", "nebius", "coreweave", "gcp", "tensordock", "crusoe",
    "fluidstack",
]  # fmt: skip
COUNTRIES = ["US", "DE", "JP", "GB", "FR", "SG", "NL", "CA", "IN", "SE"]
CONTINENTS = ["NA", "EU", "AS", "EU", "NA", "OC", "SA", "EU", "NA", "AS"]
# (kind, filter, sort); each is run with 10 substitutions, so 20 templates make 200 queries.
SEARCHES = [
    ("selective", "gpu={gpu} gpus=8 region={region}", ""),
    ("selective", "gpu={gpu} provider={provider} pricing=spot", ""),
    ("selective", "gpu={gpu} gpus>=4 country={country} price<40/h", "price"),
    ("selective", "provider={provider} region={region} vram>=24GB", "-gpus"),
    ("broad", "", ""),
    ("broad", "gpus>=1 pricing=on_demand", "price"),
    ("broad", "continent={continent} vram>=24GB", "-vram"),
    ("broad", "observed<1h", ""),
    ("broad", "reliability>=95% pricing=on_demand", "gpu_price"),
    ("broad", "gpu_price<1.5 available>=1", "-gpus"),
    ("sorted", "gpu={gpu} region={region}", "-total_vram,gpu_price"),
    ("sorted", "gpu_vendor=nvidia gpus=8", "price"),
    ("sorted", "total_vram>=640GB", "-gpus"),
    ("or", "gpu={gpu} or gpu={gpu2}", ""),
    ("or", "(gpu=A100 vram>=80GB) or (gpu={gpu} gpus>=8)", "price"),
    ("or", "region=eu-* or continent={continent}", ""),
    ("or", "gpu in [L4, T4] or pricing=spot gpu_price<0.5", ""),
    ("wildcard", "gpu=RTX_40* not provider={provider}", ""),
    ("wildcard", "region=*west* gpus>=2", "-gpus"),
    ("not", "not (provider={provider} or region=us-*) gpus=8", ""),
]
QUOTES = [
    {"gpu": "{gpu}:8", "hours": "24"},
    {"gpu": "{gpu}:8", "hours": "24", "filter": "continent={continent}", "max_total": "600"},
    {"gpu": "A100,H100:80GB..:4..8", "hours": "72", "filter": "region={region}"},
    {"gpu": "{gpu}:1..2", "hours": "10", "pricing": ("on_demand", "spot")},
    {"gpu": "{gpu}:8", "hours": "168", "objective": "cost_per_work"},
    {"gpu": "8", "hours": "24", "objective": "cost_per_work"},
    {"gpu": "24GB..:1", "hours": "5"},
    {"gpu": "nvidia:4..", "hours": "24", "filter": "price<20/h"},
    {"gpu": "amd:MI300X:8", "hours": "24", "disk_gb": "500", "egress_gb": "100"},
    {"gpu": "{gpu}:32", "hours": "24", "allow_split": True},
    {
        "gpu": "{gpu}:16",
        "hours": "12",
        "allow_split": True,
        "same_region": False,
        "filter": "continent=NA",
    },
    {"gpu": "{gpu}:8 cpu=64.. memory=512GB..", "hours": "24"},
    {"gpu": "{gpu}:4", "hours": "2", "filter": "provider in [{provider},{provider2}]"},
    {"gpu": "{gpu}:1", "hours": "1", "filter": "observed<1h reliability>=0.95"},
    {
        "gpu": "H100,H200,B200:8",
        "hours": "24",
        "objective": "cost_per_work",
        "pricing": ("on_demand", "reserved"),
    },
    {"gpu": "{gpu}:2..8", "hours": "48", "max_total": "100"},
    {"gpu": "{gpu}:8", "hours": "24", "filter": "region=eu-* or region=europe-*"},
    {"gpu": "1..", "hours": "1", "filter": "gpu_price<0.3"},
    {"gpu": "{gpu}", "hours": "3", "pricing": ("spot",)},
    {"gpu": "{gpu}:64", "hours": "24", "allow_split": True, "objective": "cost_per_work"},
]


@dataclass
class Case:
    kind: str
    label: str
    run: object  # () -> answer
    params: dict = field(default_factory=dict)  # what the baseline needs to ask the same
    samples: list[float] = field(default_factory=list)
    slowest_sql: tuple | None = None  # (seconds, sql, params)


def add_arguments(parser) -> None:
    parser.add_argument("--offers", type=int, default=1_000_000, help="catalog size")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--rounds", type=int, default=3, help="timed passes over the mix")
    parser.add_argument("--regenerate", action="store_true", help="rebuild the catalog")
    parser.add_argument(
        "--baseline-sample", type=int, default=10, help="requests of each kind to scan"
    )
    parser.add_argument(
        "--only", choices=("search", "quote"), help="time one of the two mixes (quicker)"
    )
    parser.add_argument("--slowest", type=int, default=12, help="slowest cases to list")
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="time the freshly loaded, vacuumed catalog (not the state after a price sync)",
    )


def run(args) -> int:
    url = bench_database_url(suffix="_bench_search")
    ensure_database(url)
    setup_django(url)
    report = Report()
    report.line(f"GPU Market search and quote benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    report.line(f"CPU probe (bench/base.py): {cpu_probe_seconds():.2f} s")
    prepare_catalog(args, report)
    searches = [] if args.only == "quote" else _search_cases()
    quotes = [] if args.only == "search" else _quote_cases()
    with _autovacuum_paused():
        if not args.fresh:
            _as_after_a_sync(report)
        for case in searches + quotes:  # warm-up: caches, buffers, plans
            case.run()
        for _ in range(args.rounds):
            for case in searches + quotes:
                _time(case)
    report.latency_table(searches, quotes, args.rounds)
    report.slowest_cases(searches + quotes, args.slowest)
    _baseline(args, report, searches, quotes)
    _explain_slowest(report, searches, quotes)
    report.save(RESULTS)
    return 0


COMMAND = BenchCommand(
    help="search and quote latency over a million offers", add_arguments=add_arguments, run=run
)


# --- the catalog ------------------------------------------------------------------------


def prepare_catalog(args, report) -> None:
    from django.db import connection

    from bench import catalog
    from marketplace.models import Offer

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_catalog (offers int, seed int)")
        cursor.execute("SELECT offers, seed FROM bench_catalog")
        marker = cursor.fetchone()
    have = Offer.objects.count()
    if args.regenerate or marker != (args.offers, args.seed) or have != args.offers:
        report.line(f"generating the catalog ({args.offers:,} offers, seed {args.seed}) ...")
        catalog.generate(connection, offers=args.offers, seed=args.seed, log=report.line)
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM bench_catalog")
            cursor.execute("INSERT INTO bench_catalog VALUES (%s, %s)", [args.offers, args.seed])
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE marketplace_offer")
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        version = cursor.fetchone()[0].split(" on ")[0]
        cursor.execute(
            "SELECT count(DISTINCT gpu_id), count(DISTINCT provider_id), count(DISTINCT region),"
            " count(DISTINCT pricing) FROM marketplace_offer"
        )
        gpus, providers, regions, pricing = cursor.fetchone()
    report.line(
        f"{version}; {args.offers:,} offers: {gpus} GPU models, {providers} providers, "
        f"{regions} regions, {pricing} pricing models"
    )


@contextlib.contextmanager
def _autovacuum_paused():
    """No autovacuum of the offer table while timing: after the sync-like update it would
    otherwise run in the middle of the mix (on the other core, with its I/O), and mark the
    pages all-visible again part way through. What is timed is the state between a sync and
    the next autovacuum."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE marketplace_offer SET (autovacuum_enabled = false)")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE marketplace_offer RESET (autovacuum_enabled)")


def _as_after_a_sync(report) -> None:
    """Leave the catalog as a price sync leaves it: every offer's observed_at moved (the
    heap-only update an unchanged refresh makes). A freshly loaded, vacuumed table has every
    page marked all-visible, so PostgreSQL can answer from an index alone; after a sync, and
    until autovacuum passes again, each row it returns must be checked in the table too."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        # One sync's worth of old row versions, not those of every earlier run of the bench.
        cursor.execute("VACUUM marketplace_offer")
        # Shifted so that the freshest offer was seen just now: the catalog keeps the age
        # spread it was generated with (`observed<1h` matches as many offers as on the day
        # it was built), however long ago that was.
        cursor.execute(
            "UPDATE marketplace_offer SET observed_at = observed_at + "
            "(now() - (SELECT max(observed_at) FROM marketplace_offer))"
        )
        # Write the update's pages out now, not in a checkpoint during the timed mix.
        cursor.execute("CHECKPOINT")
    report.line(
        f"every offer's observed_at moved, as by a price sync ({time.perf_counter() - started:.1f} s)"
    )


# --- the mixes ------------------------------------------------------------------------------


def _substitutions(index: int) -> dict:
    return {
        "gpu": GPUS[index % 10],
        "gpu2": GPUS[(index + 3) % 10],
        "region": REGIONS[index % 10],
        "provider": PROVIDERS[index % 10],
        "provider2": PROVIDERS[(index + 4) % 10],
        "country": COUNTRIES[index % 10],
        "continent": CONTINENTS[index % 10],
    }


def _search_cases() -> list[Case]:
    from marketplace.api.catalog import OfferOutput
    from marketplace.selectors.catalog import offer_search

    def searcher(query: str, sort: str, cursor: str | None):
        def run():
            search = offer_search(query=query, sort=sort)
            page = search.page(limit=50, cursor=cursor)
            return [offer["id"] for offer in OfferOutput(page.rows, many=True).data], page.next

        return run

    cases = []
    for variant in range(10):
        for kind, template, sort in SEARCHES:
            query = template.format(**_substitutions(variant))
            cursor = None
            if variant == 9:  # one pass of second pages: the keyset cursor at work
                cursor = searcher(query, sort, None)()[1]
            label = f"q={query!r} sort={sort!r}" + (" page 2" if cursor else "")
            params = {"query": query, "sort": sort, "cursor": cursor}
            cases.append(Case(kind, label, searcher(query, sort, cursor), params))
    return cases


def _quote_cases() -> list[Case]:
    from accounts.models import Organization
    from marketplace.quoting.engine import quote_create
    from marketplace.quoting.request import QuoteRequest

    org, _ = Organization.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    cases = []
    for variant in range(10):
        for template in QUOTES:
            values = {
                key: value.format(**_substitutions(variant)) if isinstance(value, str) else value
                for key, value in template.items()
            }
            request = _quote_request(values, QuoteRequest)
            kind = "split" if request.allow_split else request.objective
            label = " ".join(f"{k}={v!r}" for k, v in values.items())

            def run(request=request):
                return quote_create(org=org, request=request)

            cases.append(Case(kind, label, run, {"request": request}))
    return cases


def _quote_request(values: dict, request_type):
    decimals = {"hours", "disk_gb", "egress_gb", "max_total"}
    return request_type(
        **{k: Decimal(v) if k in decimals else v for k, v in values.items()},
    )


def _time(case: Case) -> None:
    from django.db import connection

    slowest = StatementTimer()
    with connection.execute_wrapper(slowest):
        started = time.perf_counter()
        case.run()
        case.samples.append(time.perf_counter() - started)
    if slowest.worst and (case.slowest_sql is None or slowest.worst[0] > case.slowest_sql[0]):
        case.slowest_sql = slowest.worst


EXPLAINABLE = ("SELECT", "WITH", "(")


class StatementTimer:
    def __init__(self):
        self.worst = None

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            elapsed = time.perf_counter() - started
            # reads only: a SET (index_order_reads) can stall too, and has no plan to show
            explainable = sql.lstrip().startswith(EXPLAINABLE)
            if explainable and (self.worst is None or elapsed > self.worst[0]):
                self.worst = (elapsed, sql, params)


# --- baseline ---------------------------------------------------------------------------------


def _baseline(args, report, searches: list[Case], quotes: list[Case]) -> None:
    from django.db import connection
    from django.utils import timezone

    from bench import baseline
    from marketplace.quoting.candidates import gpu_facts, reservable_provider_rates
    from marketplace.quoting.costs import Usage
    from marketplace.quoting.plans import Pricing
    from marketplace.search import DatabaseResolver

    if args.baseline_sample <= 0:
        return
    started = time.perf_counter()
    with connection.cursor() as cursor:
        rows = baseline.load_rows(cursor.cursor)
    loaded = time.perf_counter() - started
    resolver, now = DatabaseResolver(), timezone.now()
    step = max(1, len(searches) // args.baseline_sample)
    search_sample = searches[::step][: args.baseline_sample]
    search_rows = []
    for case in search_sample:
        if case.params["cursor"]:
            continue
        started = time.perf_counter()
        ids = baseline.search(
            rows,
            query=case.params["query"],
            sort=case.params["sort"],
            limit=50,
            resolver=resolver,
            now=now,
        )
        elapsed = time.perf_counter() - started
        search_rows.append((case, elapsed, ids == case.run()[0]))
    rates, gpus = reservable_provider_rates(), gpu_facts()
    single = [c for c in quotes if c.kind == "total_cost"]
    quote_rows = []
    for case in single[:: max(1, len(single) // args.baseline_sample)][: args.baseline_sample]:
        request = case.params["request"]
        usage = Usage(request.hours, request.disk_gb, request.egress_gb, request.currency)
        pricing = Pricing(usage, request.objective, rates, gpus)
        started = time.perf_counter()
        best = baseline.quote(rows, request=request, pricing=pricing, resolver=resolver, now=now)
        elapsed = time.perf_counter() - started
        answer = [(q.total, q.legs[0]["offer"]) for q in case.run().quotes]
        quote_rows.append((case, elapsed, best == answer))
    report.baseline_table(len(rows), loaded, search_rows, quote_rows)


# --- query plans --------------------------------------------------------------------------------


def _explain_slowest(report, searches: list[Case], quotes: list[Case], count: int = 3) -> None:

    for title, cases in (("search", searches), ("quote", quotes)):
        worst = sorted(
            (c for c in cases if c.slowest_sql), key=lambda c: c.slowest_sql[0], reverse=True
        )[:count]
        for case in worst:
            _, sql, params = case.slowest_sql
            report.explain(title, case, _plan(sql, params))


def _plan(sql: str, params, keep: int = 60) -> str:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        if sql.startswith("(") and " UNION ALL " in sql:
            # As the quote engine runs its per-GPU unions (marketplace/quoting/streams.py).
            cursor.execute("SET LOCAL jit = off")
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        lines = [row[0] for row in cursor.fetchall()]
    if len(lines) > keep:
        lines = lines[:keep] + [f"... ({len(lines) - keep} more lines: one branch per GPU model)"]
    return "\n".join(lines)


# --- output ------------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


class Report(BaseReport):
    def latency_table(self, searches, quotes, rounds: int) -> None:
        self.line()
        self.line(f"Latency, server-side, {rounds} timed passes after a warm-up (ms)")
        self.line(f"{'':28}{'n':>6}{'p50':>9}{'p99':>9}{'max':>9}{'mean':>9}")
        for title, cases in (
            ("search (API selector path)", searches),
            ("quote (quote_create)", quotes),
        ):
            if not cases:
                continue
            self._row(title, [s for c in cases for s in c.samples])
            for kind in dict.fromkeys(c.kind for c in cases):
                self._row(f"  {kind}", [s for c in cases if c.kind == kind for s in c.samples])

    def _row(self, title: str, samples: list[float]) -> None:
        self.line(
            f"{title:28}{len(samples):>6}{_ms(percentile(samples, 0.5)):>9}"
            f"{_ms(percentile(samples, 0.99)):>9}{_ms(max(samples)):>9}"
            f"{_ms(statistics.fmean(samples)):>9}"
        )

    def slowest_cases(self, cases: list[Case], count: int) -> None:
        if count <= 0 or not cases:
            return
        self.line()
        self.line(f"Slowest cases (ms, over their {len(cases[0].samples)} timed runs)")
        worst = sorted(cases, key=lambda c: max(c.samples), reverse=True)[:count]
        for case in worst:
            title = "quote " if "request" in case.params else "search"
            self.line(
                f"  {title} {_ms(statistics.median(case.samples)):>7} {_ms(max(case.samples)):>7}"
                f"  {case.label}"
            )

    def baseline_table(self, rows: int, loaded: float, searches, quotes) -> None:
        self.line()
        self.line(
            f"Baseline: plain Python linear scan over the same {rows:,} rows "
            f"(loaded once in {loaded:.1f} s), on a sample of the same requests"
        )
        self.line(f"{'':28}{'n':>6}{'scan p50':>11}{'db p50':>9}{'ratio':>9}{'same answer':>13}")
        for title, measured in (("search", searches), ("quote (single offers)", quotes)):
            if not measured:
                continue
            scan = statistics.median(elapsed for _, elapsed, _ in measured)
            db = statistics.median(statistics.median(c.samples) for c, _, _ in measured)
            agree = sum(1 for _, _, same in measured if same)
            self.line(
                f"{title:28}{len(measured):>6}{_ms(scan):>11}{_ms(db):>9}"
                f"{scan / db:>8.0f}x{f'{agree}/{len(measured)}':>13}"
            )

    def explain(self, title: str, case: Case, plan: str) -> None:
        self.line()
        self.line(
            f"Slowest {title} statement: {case.label} "
            f"(p50 {_ms(statistics.median(case.samples))} ms, worst {_ms(max(case.samples))} ms)"
        )
        self.line(plan)
