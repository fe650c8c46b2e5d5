"""Price check benchmark: how right it is, and what it costs (issue 15).

    make bench ARGS='price-check'        # or: python -m bench price-check [--offers N] [--runs N]

Quality: the shared SkyPilot snapshot is loaded through the real source, then each growth
scenario of the labelled evaluation (tests/price_evaluation.py) is built on it, judged by
the old rule (bench/_old_price_check.py) and by the current one, and rolled back. Printed:
per scenario, the rows in play, those that are not prices, and each rule's flags, precision
and recall (a rule that flags nothing has precision 1; nothing to catch, recall 1).

Speed: a catalog of `--offers` rows generated from the snapshot (bench/_catalog.py, as the
refresh benchmark) is loaded, and each rule judges every class on one connection, from a
catalog with no flags and then again (nothing changes: the usual sync), `--runs` times; the
medians are reported with the CPU probe.
Everything runs in `<DATABASE_URL's name>_bench`. Results: bench/results/price-check.txt.
"""

from __future__ import annotations

import statistics
import tempfile
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

RESULTS = Path(__file__).resolve().parent / "results" / "price-check.txt"


class Rollback(Exception):
    pass


def _flagged_keys() -> set:
    from tests.price_evaluation import active_gpu_offers, offer_key

    return {offer_key(o) for o in active_gpu_offers().filter(suspect=True)}


def _judged_by_both(scenario, labels) -> tuple:
    """The scenario built, judged by each rule, then rolled back: (old score, new score)."""
    from django.db import transaction

    from bench._old_price_check import old_rule_flag_suspects
    from marketplace.models import Offer
    from marketplace.services.price_sanity import offers_flag_suspects
    from tests.price_evaluation import score

    scores = []
    try:
        with transaction.atomic():
            in_play = scenario.apply(labels)
            for judge in (old_rule_flag_suspects, offers_flag_suspects):
                Offer.objects.update(suspect=False, suspect_reason="")
                judge()
                scores.append(score(in_play, _flagged_keys()))
            raise Rollback
    except Rollback:
        pass
    return tuple(scores)


def quality_lines() -> list[str]:
    from bench.refresh import empty_offer_tables
    from brokers.services.sync import refresh_source
    from tests.price_evaluation import SCENARIOS, SHARED_CATALOG, snapshot_labels

    empty_offer_tables()
    refresh_source(source_name="skypilot-catalog", path=str(SHARED_CATALOG))
    labels = snapshot_labels()
    header = (
        f"{'scenario':<24} {'rows':>5} {'not':>4} | {'old: flagged':>12} {'P':>5} {'R':>5} "
        f"| {'new: flagged':>12} {'P':>5} {'R':>5}"
    )
    lines = [header, "-" * len(header)]
    for scenario in SCENARIOS:
        old, new = _judged_by_both(scenario, labels)
        lines.append(
            f"{scenario.name:<24} {new.rows:>5} {new.not_prices:>4} | {old.flagged:>12} "
            f"{old.precision:>5.2f} {old.recall:>5.2f} | {new.flagged:>12} "
            f"{new.precision:>5.2f} {new.recall:>5.2f}"
        )
    return lines


def _timed(judge, runs: int) -> tuple[float, float]:
    """Median seconds of a check from a catalog with no flags (after a first load), and of
    the same check run again (after a sync that changed no verdict: the usual case)."""
    from django.db import transaction

    from marketplace.models import Offer

    first, again = [], []
    for _ in range(runs):
        Offer.objects.filter(suspect=True).update(suspect=False, suspect_reason="")
        for seconds in (first, again):
            started = time.perf_counter()
            with transaction.atomic():  # one connection, for both rules
                judge()
            seconds.append(time.perf_counter() - started)
    return statistics.median(first), statistics.median(again)


def speed_lines(offers: int, runs: int) -> list[str]:
    from bench._catalog import write_catalog
    from bench._old_price_check import old_rule_flag_suspects
    from bench.refresh import empty_offer_tables
    from brokers.services.sync import refresh_source
    from marketplace.services.price_sanity import offers_flag_suspects

    empty_offer_tables()
    with tempfile.TemporaryDirectory(prefix="bench-price-check-") as tmp:
        written = write_catalog(Path(tmp), offers=offers)
        refresh_source(source_name="skypilot-catalog", path=tmp)
    probe_before = cpu_probe_seconds()
    old_first, old_again = _timed(old_rule_flag_suspects, runs)
    new_first, new_again = _timed(offers_flag_suspects, runs)
    probe_after = cpu_probe_seconds()
    return [
        f"speed, {written:,} offers, every class judged on one connection, median of {runs} "
        f"(CPU probe {probe_before:.2f} s before, {probe_after:.2f} s after):",
        f"  from no flags: old rule {old_first:.3f} s, new rule {new_first:.3f} s "
        f"({new_first / old_first:.2f}x the old)",
        f"  run again, no verdict changes: old rule {old_again:.3f} s, new rule "
        f"{new_again:.3f} s ({new_again / old_again:.2f}x the old)",
    ]


def add_arguments(parser) -> None:
    parser.add_argument("--offers", type=int, default=100_000, help="catalog size for speed")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each rule")
    parser.add_argument("--output", type=Path, default=RESULTS)


def run(args) -> int:
    url = bench_database_url()
    ensure_database(url)
    setup_django(url)
    lines = [
        f"price check benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: python -m bench "
        f"price-check --offers {args.offers} --runs {args.runs}",
        "",
        "precision (P) and recall (R) on the labelled snapshot and its growth scenarios:",
        *quality_lines(),
        "",
        *speed_lines(args.offers, args.runs),
    ]
    text = "\n".join(lines)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text + "\n")
    return 0


COMMAND = BenchCommand(
    help="price check: precision and recall on the labelled scenarios, old rule and new; speed",
    add_arguments=add_arguments,
    run=run,
)
