"""Refresh benchmark: price syncs of a 100,000-offer catalog through the real pipeline.

    make bench ARGS='refresh'            # or: python -m bench refresh [--offers N] [--orm-sample N]
                                         #     [--first-runs N]

A SkyPilot-format catalog folder is generated in a temporary directory (the real rows of
../shared/data/skypilot-catalog-v8 over numbered regions, see `bench/_catalog.py`) and read
by the real `skypilot-catalog` source, so parsing and normalisation are measured too. All
writes go to the benchmarks' database, `<DATABASE_URL's name>_bench` (bench/base.py), whose
offer tables are emptied first; the development database is never touched.

Measured: parsing alone; a first refresh (three times on emptied tables, the median one
reported: the machine's speed drifts within minutes); an unchanged second refresh as it runs
by default (every file's fingerprint equals the last sync's: nothing is parsed, each file's
offers are touched in one statement) and forced to read everything again (`full`, as
`refresh_prices --full`); a refresh with 5% of the prices changed (spread over every file,
so every file is read); the same rows saved one by one with the ORM (`Offer(...).save()`, on
a sample, in one
transaction: the ORM's best case); peak memory (RSS of the process, and tracemalloc's peak of
a first refresh of a small and of the full catalog: bounded by the batch, not by the rows).

The database's share is split by timing the writer's steps (COPY, into the batch table or, for
a batch of new offers, straight into the offer table; the upsert statement; the commit), the touch
of unchanged files' offers, and what follows the load (withdrawal, staleness, price check).
The output says which PostgreSQL and whether its fsync is on: `make bench` starts a throwaway
one with fsync off unless DATABASE_URL names a server (the figures in the notes are from the
machine's own, fsync on). Sync transactions commit without waiting for the WAL flush
(marketplace/services/offer_writer.py says why that is safe).
Results are printed and written to bench/results/refresh.txt.
"""

from __future__ import annotations

import contextlib
import os
import platform
import resource
import sys
import tempfile
import threading
import time
import tracemalloc
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.base import (
    BenchCommand,
    bench_database_url,
    cpu_probe_seconds,
    ensure_database,
    setup_django,
)

RESULTS = Path(__file__).resolve().parent / "results" / "refresh.txt"
SOURCE = "skypilot-catalog"


@dataclass
class Result:
    phase: str
    offers: int
    seconds: float
    created: int | str = ""
    updated: int | str = ""
    unchanged: int | str = ""
    history: int | str = ""
    db_seconds: float | None = None  # time in the upsert statements (the writer thread)
    split: dict[str, float] | None = None  # the database's time, step by step

    @property
    def rate(self) -> float:
        return self.offers / self.seconds if self.seconds else 0.0


# --- the benchmark database -------------------------------------------------------------------


def empty_offer_tables() -> None:
    from django.db import connection

    from brokers.models import PriceSync
    from marketplace.models import Offer, OfferPrice

    tables = [m._meta.db_table for m in (OfferPrice, Offer, PriceSync)]
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} CASCADE")  # the bench database only
        cursor.execute(f"VACUUM ANALYZE {Offer._meta.db_table}")


# --- phases -------------------------------------------------------------------------------------


def timed_parse(folder: Path) -> tuple[Result, Result]:
    from brokers.registry import get_source
    from brokers.services.normalise import Normaliser
    from brokers.sources.base import RowError

    source = get_source(SOURCE)
    start = time.perf_counter()
    rows = sum(1 for item in source.fetch(path=str(folder)) if not isinstance(item, RowError))
    parse = Result("parse only (CSV -> OfferRow)", rows, time.perf_counter() - start)
    normaliser = Normaliser()
    start = time.perf_counter()
    offers = sum(
        1
        for item in source.fetch(path=str(folder))
        if not isinstance(item, RowError) and normaliser.normalise(item) is not None
    )
    normalise = Result("parse + normalise (-> OfferInput)", offers, time.perf_counter() - start)
    return parse, normalise


def timed_refresh(phase: str, folder: Path, *, full: bool = False) -> Result:
    from brokers.services.sync import refresh_source
    from marketplace.models import OfferPrice

    history_before = OfferPrice.objects.count()
    with database_timers() as split:
        start = time.perf_counter()
        sync = refresh_source(source_name=SOURCE, path=str(folder), full=full)
        seconds = time.perf_counter() - start
    if sync.errors or sync.unknown_labels:
        raise SystemExit(f"{phase}: unexpected errors {sync.errors[:3]} {sync.unknown_labels}")
    offers = sync.created + sync.updated + sync.unchanged
    history = OfferPrice.objects.count() - history_before
    db_seconds = split["copy"] + split["upsert"] + split["commit"] + split["touch"]
    return Result(
        phase, offers, seconds, sync.created, sync.updated, sync.unchanged, history, db_seconds,
        split,
    )  # fmt: skip


def timed_first_refreshes(folder: Path, runs: int) -> list[Result]:
    """`runs` first refreshes, each on emptied offer tables, slowest to fastest: this
    machine's speed drifts within minutes, and one run can land in a slow moment. The last
    run's catalog stays for the refreshes that follow."""
    results = []
    for run in range(runs):
        if run:
            empty_offer_tables()
        results.append(timed_refresh("first refresh", folder))
    return sorted(results, key=lambda result: result.rate)


@contextlib.contextmanager
def database_timers():
    """Times the database's steps of a sync, in whichever thread they run: the writer's
    COPY (into the batch table, or for new offers into the offer table), its upsert
    statement and the rest of its transaction (the
    commit), overlapped with parsing; the touch of unchanged
    inputs' offers; and what follows the load (withdrawal, staleness, price check)."""
    from brokers.services import batch_writer, sync
    from marketplace.services import offer_writer as offers

    split = dict.fromkeys(("copy", "upsert", "batch", "touch", "after load"), 0.0)
    lock = threading.Lock()
    patches = [
        (offers, "_load_batch", "copy"),
        (offers, "_copy_new_offers", "copy"),  # all-new batches: COPY into the offer table
        (offers, "_upsert_loaded", "upsert"),
        (batch_writer, "offer_upsert_prepared", "batch"),  # all of a batch's transaction
        (sync, "offers_touch_feeds", "touch"),
        (sync, "_after_load", "after load"),
    ]
    originals = [(module, name, getattr(module, name)) for module, name, _ in patches]
    for (module, name, step), (_, _, original) in zip(patches, originals, strict=True):
        setattr(module, name, _timed(original, step, split, lock))
    try:
        yield split
    finally:
        for module, name, original in originals:
            setattr(module, name, original)
        split["commit"] = max(0.0, split.pop("batch") - split["copy"] - split["upsert"])


def _timed(function, step: str, split: dict[str, float], lock: threading.Lock):
    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            with lock:
                split[step] += time.perf_counter() - start

    return timed


def timed_orm_saves(folder: Path, sample: int) -> Result:
    """Parse + normalise + `Offer(...).save()` per row: the naive loader, end to end."""
    import itertools

    from django.db import transaction
    from django.utils import timezone

    from brokers.registry import get_source
    from brokers.services.normalise import Normaliser
    from marketplace.models import Offer, OfferStatus

    normaliser = Normaliser()
    now = timezone.now()
    rows = get_source(SOURCE).fetch(path=str(folder))
    start = time.perf_counter()
    saved = 0
    with transaction.atomic():
        for row in itertools.islice(rows, sample):
            if (item := normaliser.normalise(row)) is None:
                continue
            Offer(
                provider_id=item.provider_id,
                sku=item.sku,
                region=item.region,
                zone=item.zone,
                pricing=item.pricing,
                observed_at=now,
                status=OfferStatus.ACTIVE,
                extra=item.extra,
                **item.field_values(),
            ).save()
            saved += 1
    seconds = time.perf_counter() - start
    return Result("per-row ORM saves (sample)", saved, seconds, created=saved)


def traced_first_refresh(folder: Path, offers: int) -> tuple[int, float]:
    """tracemalloc's peak (bytes) during a first refresh of `folder` into empty tables."""
    from brokers.services.sync import refresh_source

    empty_offer_tables()
    tracemalloc.start()
    try:
        sync = refresh_source(source_name=SOURCE, path=str(folder))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sync.created == offers, (sync.created, offers)
    return peak, peak / offers


def peak_rss_mb() -> float:
    # ru_maxrss is KiB on Linux (bytes on macOS)
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


# --- report -------------------------------------------------------------------------------------


def table(results: list[Result], rss: dict[str, float]) -> list[str]:
    header = ["phase", "offers", "seconds", "offers/s", "db writes s", "created", "updated",
              "unchanged", "history", "peak RSS MB"]  # fmt: skip
    rows = [header] + [
        [
            r.phase,
            f"{r.offers:,}",
            f"{r.seconds:.2f}",
            f"{r.rate:,.0f}",
            "" if r.db_seconds is None else f"{r.db_seconds:.2f}",
            *(
                f"{v:,}" if isinstance(v, int) else v
                for v in (r.created, r.updated, r.unchanged, r.history)
            ),
            f"{rss[r.phase]:.0f}" if r.phase in rss else "",
        ]
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for index, row in enumerate(rows):
        cells = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells))
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def split_lines(results: list[Result]) -> list[str]:
    """The database's time per step, for the refreshes."""
    steps = ("copy", "upsert", "commit", "touch", "after load")
    rows = [r for r in results if r.split]
    width = max(len(r.phase) for r in rows)
    lines = [
        "database time by step, seconds, summed over the writer connections (copy: COPY "
        "into the batch table, or of an all-new batch into the offer table; upsert: the one "
        "statement that matches, inserts, updates and appends history; commit: the rest of "
        "each batch's transaction, the commit; touch: unchanged "
        "files' offers; after load: withdrawal, staleness, price check):",
        f"  {'phase'.ljust(width)}  " + "  ".join(f"{step:>10}" for step in steps),
    ]
    for r in rows:
        cells = "  ".join(f"{r.split[step]:>10.2f}" for step in steps)
        lines.append(f"  {r.phase.ljust(width)}  {cells}")
    return lines


def writers() -> int:
    from brokers.services.batch_writer import WRITERS

    return WRITERS


def batch_size() -> int:
    from brokers.services.sync import BATCH_SIZE

    return BATCH_SIZE


def offer_index_count() -> int:
    from django.db import connection

    from marketplace.models import Offer

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_indexes WHERE tablename = %s", [Offer._meta.db_table]
        )
        return cursor.fetchone()[0]


def environment_lines(args) -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        (version,) = cursor.fetchone()
        cursor.execute("SHOW fsync")
        (fsync,) = cursor.fetchone()
    return [
        f"refresh benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: python -m bench refresh --offers {args.offers} --orm-sample {args.orm_sample}",
        f"machine: {os.cpu_count()} CPUs (CPU probe {cpu_probe_seconds():.2f} s), "
        f"Python {platform.python_version()}, "
        f"PostgreSQL {version} (fsync {fsync}; sync transactions "
        f"commit with synchronous_commit off), database {connection.settings_dict['NAME']}, "
        f"{offer_index_count()} indexes on the offer table",
    ]


def add_arguments(parser) -> None:
    parser.add_argument("--offers", type=int, default=100_000, help="catalog size")
    parser.add_argument("--orm-sample", type=int, default=10_000, help="rows saved one by one")
    parser.add_argument(
        "--small", type=int, default=10_000, help="small catalog for the memory check"
    )
    parser.add_argument(
        "--first-runs",
        type=int,
        default=3,
        help="first refreshes (on emptied tables): the median one is reported, all are listed",
    )
    parser.add_argument("--output", type=Path, default=RESULTS)


def run(args) -> int:
    url = bench_database_url()
    ensure_database(url)
    setup_django(url)
    from bench._catalog import write_catalog

    empty_offer_tables()
    results: list[Result] = []
    rss: dict[str, float] = {}

    def record(result: Result) -> None:
        results.append(result)
        rss[result.phase] = peak_rss_mb()
        print(f"  {result.phase}: {result.offers:,} offers in {result.seconds:.2f} s", flush=True)

    with tempfile.TemporaryDirectory(prefix="bench-refresh-") as tmp:
        catalog, changed, small = Path(tmp, "catalog"), Path(tmp, "changed"), Path(tmp, "small")
        offers = write_catalog(catalog, offers=args.offers)
        write_catalog(changed, offers=args.offers, change_every=20)
        small_offers = write_catalog(small, offers=args.small)
        print(f"generated {offers:,} offers in {catalog}", flush=True)

        for result in timed_parse(catalog):
            record(result)
        firsts = timed_first_refreshes(catalog, max(1, args.first_runs))
        record(firsts[len(firsts) // 2])
        record(timed_refresh("unchanged refresh (files skipped)", catalog))
        record(timed_refresh("unchanged refresh, full (re-parsed)", catalog, full=True))
        record(timed_refresh("refresh, 5% prices changed", changed))
        empty_offer_tables()
        record(timed_orm_saves(catalog, args.orm_sample))
        small_peak, _ = traced_first_refresh(small, small_offers)
        full_peak, _ = traced_first_refresh(catalog, offers)

    by_phase = {r.phase: r for r in results}
    first = by_phase["first refresh"]
    skipped = by_phase["unchanged refresh (files skipped)"]
    full = by_phase["unchanged refresh, full (re-parsed)"]
    parse_normalise = by_phase["parse + normalise (-> OfferInput)"]
    orm = by_phase["per-row ORM saves (sample)"]
    lines = [
        *environment_lines(args),
        "",
        *table(results, rss),
        "",
        *split_lines(results),
        "",
        f"first refresh: {first.rate:,.0f} offers/s ({first.seconds:.2f} s for "
        f"{first.offers:,} offers; the database's writes took {first.db_seconds:.2f} s summed "
        f"over {writers()} writer connections, overlapped with parsing and normalising, which "
        f"alone take {parse_normalise.seconds:.2f} s; then {first.split['after load']:.2f} s "
        "of withdrawal, staleness and price check)",
        f"first refresh, {len(firsts)} runs on emptied tables, the median above: "
        + ", ".join(f"{r.rate:,.0f}" for r in firsts)
        + " offers/s",
        f"unchanged refresh, files skipped (the default): {skipped.rate / first.rate:.1f}x "
        f"faster than the first ({first.seconds:.2f} s -> {skipped.seconds:.2f} s): no file "
        "parsed, each file's offers touched in one statement",
        f"unchanged refresh, full re-parse (--full): {full.rate / first.rate:.1f}x faster than "
        f"the first ({first.seconds:.2f} s -> {full.seconds:.2f} s); database writes "
        f"{first.db_seconds / full.db_seconds:.1f}x faster ({first.db_seconds:.2f} s -> "
        f"{full.db_seconds:.2f} s). Parsing and normalising ({parse_normalise.seconds:.2f} s) "
        "is the same work both times, so it bounds this ratio.",
        f"bulk first refresh vs per-row ORM saves: {first.rate / orm.rate:.1f}x "
        f"({first.rate:,.0f} vs {orm.rate:,.0f} offers/s; ORM extrapolated to {offers:,} "
        f"offers: {offers / orm.rate:.0f} s)",
        f"memory: tracemalloc peak of a first refresh: {small_peak / 2**20:.1f} MB for "
        f"{small_offers:,} offers, {full_peak / 2**20:.1f} MB for {offers:,} offers "
        f"(batches of {batch_size():,}); process peak RSS {peak_rss_mb():.0f} MB",
    ]
    print("\n" + "\n".join(lines))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines) + "\n")
    print(f"\nwritten to {args.output}")
    return 0


COMMAND = BenchCommand(
    help="price refresh speed: first, unchanged (skipped, full) and repriced syncs of 100,000 offers",
    add_arguments=add_arguments,
    run=run,
)
