"""Billing benchmark: a month of usage closed into finalised invoices, and the metering tick.

    make bench ARGS='billing'     # or: python -m bench billing [--orgs N] [--reservations N]
                                  #     [--intervals N] [--running N] [--orm-sample N]

In the benchmarks' database (bench/base.py; its billing and reservation tables are emptied
first), generated with INSERT ... SELECT generate_series: `--orgs` organizations,
`--reservations` reservations of the month before last, each one run at its own locked price
(6 decimals), metered in `--intervals` usage intervals in all, with no draft yet (closing a
month from raw usage). Measured:

- the close (`billing_period_close`: the set-based recomputation of every draft's lines,
  then one transaction per draft, gapless numbers), and its two steps;
- the totals two ways: Decimal in Python from the raw rows (rounded once per reservation
  and price with common.money) and ROUND in SQL from the same rows, against the finalised
  invoices: all three must agree to the cent, per organization;
- the per-reservation path of before (`invoice_drafts_update_for_reservation`, ~10 ORM
  queries a reservation) on a sample, extrapolated to every reservation;
- the metering tick (`usage_meter_open_runs`, beat's `billing.record_usage`) with
  `--running` running reservations a minute after the last, beside the per-reservation task
  (`reservation_meter_and_invoice`) on a sample, extrapolated.

Each timed phase prints the CPU probe (bench/base.py) measured just before it: the machine
is shared and its speed drifts. Results are printed and written to bench/results/billing.txt.
"""

from __future__ import annotations

import os
import platform
import random
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from bench.base import (
    BenchCommand,
    BenchError,
    bench_database_url,
    cpu_probe_seconds,
    ensure_database,
    setup_django,
)

RESULTS = Path(__file__).resolve().parent / "results" / "billing.txt"


@dataclass
class Result:
    phase: str
    items: int
    unit: str
    seconds: float
    probe: float
    note: str = ""


def add_arguments(parser) -> None:
    parser.add_argument("--orgs", type=int, default=2_000)
    parser.add_argument("--reservations", type=int, default=20_000)
    parser.add_argument("--intervals", type=int, default=1_000_000, help="usage rows in all")
    parser.add_argument("--running", type=int, default=1_000, help="running for the tick")
    parser.add_argument(
        "--orm-sample", type=int, default=200, help="reservations through the old path"
    )
    parser.add_argument("--output", type=Path, default=RESULTS)


# --- data ---------------------------------------------------------------------------------------


def empty_tables() -> None:
    from django.db import connection

    tables = ["billing_invoiceline", "billing_invoice", "billing_invoicenumbercounter",
              "billing_usagerecord", "billing_journalline", "billing_journalentry",
              "marketplace_egressreport", "marketplace_reservationrun",
              "marketplace_reservation"]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} CASCADE")  # the bench database only


def bench_offer():
    from django.utils import timezone

    from marketplace.models import Offer, Provider

    provider, _ = Provider.objects.get_or_create(slug="bench-billing", defaults={"name": "Bench"})
    offer, _ = Offer.objects.get_or_create(
        provider=provider, sku="bench-billing", region="bench-1",
        defaults=dict(gpu_count=1, gpu_memory_gb=Decimal(80), price_per_hour=Decimal(1),
                      price_per_gpu_hour=Decimal(1), available=1_000_000,
                      observed_at=timezone.now()),
    )  # fmt: skip
    return offer


def bench_orgs(count: int) -> list[int]:
    from accounts.models import Organization

    existing = Organization.objects.filter(slug__startswith="bench-billing-").count()
    Organization.objects.bulk_create(
        Organization(name=f"Bench billing {n}", slug=f"bench-billing-{n}")
        for n in range(existing, count)
    )
    ids = Organization.objects.filter(slug__startswith="bench-billing-").order_by("pk")
    return list(ids.values_list("pk", flat=True)[:count])


# Every component a quote prices (docs/billing.md, "Quote = invoice"): a locked price of 6
# decimals, 120 s of start-up, a disk at 0.013699/h and egress at 0.05/GB.
_RESERVATIONS = """
INSERT INTO marketplace_reservation (org_id, offer_id, gpus, units, hours, price_per_hour,
    currency, status, idempotency_key, request_fingerprint, instance_id, connection,
    failure_reason, auto_relaunch, reserved_until, running_since, ended_at, created_at,
    updated_at, usage_seconds, cost, boot_seconds, disk_gb, disk_price_per_hour, egress_gb,
    egress_price_per_gb)
SELECT (%(orgs)s::bigint[])[1 + (g %% cardinality(%(orgs)s::bigint[]))], %(offer)s, 1, 1, 100,
    round(0.1 + (g * 104729 %% 9999991) / 1000000.0, 6), 'USD', %(status)s, '', '', '', '{}',
    '', false, %(start)s::timestamptz + interval '100 hours',
    %(start)s::timestamptz + (g %% %(spread)s) * interval '1 second', NULL, now(), now(),
    0, 0, 120, 100, 0.013699, 0, 0.05
FROM generate_series(1, %(count)s) AS g
RETURNING id
"""

# One egress report a reservation, an hour into its run: 0.1 to 5.0 GB.
_EGRESS = """
INSERT INTO marketplace_egressreport (reservation_id, reported_at, total_gb, gb, created_at)
SELECT id, running_since + interval '1 hour', (id %% 50 + 1) / 10.0, (id %% 50 + 1) / 10.0, now()
FROM marketplace_reservation WHERE id = ANY(%(ids)s)
"""

_RUNS = """
INSERT INTO marketplace_reservationrun (reservation_id, number, offer_id, instance_id,
    price_per_hour, currency, started_at, ended_at)
SELECT id, 1, offer_id, '', price_per_hour, currency, running_since,
    CASE WHEN %(length)s::integer IS NULL THEN NULL
         ELSE running_since + %(length)s::integer * interval '1 second' END
FROM marketplace_reservation WHERE id = ANY(%(ids)s)
"""

# `per` intervals a run, each 600 s plus a few (so that amounts are not all alike).
_USAGE = """
INSERT INTO billing_usagerecord (reservation_id, run_id, org_id, interval_start, interval_end,
    seconds, price_per_hour, currency, created_at)
SELECT run.reservation_id, run.id, reservation.org_id,
    run.started_at + i * (600 + run.id %% 7) * interval '1 second',
    run.started_at + (i + 1) * (600 + run.id %% 7) * interval '1 second',
    600 + run.id %% 7, run.price_per_hour, run.currency, now()
FROM marketplace_reservationrun run
JOIN marketplace_reservation reservation ON reservation.id = run.reservation_id
CROSS JOIN generate_series(0, %(per)s - 1) AS i
WHERE run.reservation_id = ANY(%(ids)s)
"""


def generate_month(period: datetime, orgs: list[int], offer_id: int, args) -> list[int]:
    """A closed month: reservations ended, metered, not billed yet."""
    from django.db import connection, transaction

    per = args.intervals // args.reservations
    if per * 607 + 3_600 > 28 * 86_400:
        raise BenchError("too many intervals a reservation to fit in a month")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_RESERVATIONS, dict(orgs=orgs, offer=offer_id, status="terminated",
                                           start=period, spread=3_600, count=args.reservations))  # fmt: skip
        ids = [row[0] for row in cursor.fetchall()]
        cursor.execute(_RUNS, {"ids": ids, "length": per * 607})
        cursor.execute(_USAGE, {"ids": ids, "per": per})
        cursor.execute(_EGRESS, {"ids": ids})
        cursor.execute(
            "UPDATE marketplace_reservationrun SET ended_at = started_at + "
            "(SELECT max(interval_end) - min(interval_start) FROM billing_usagerecord u "
            "WHERE u.run_id = marketplace_reservationrun.id) WHERE reservation_id = ANY(%s)",
            [ids],
        )
        cursor.execute(
            "UPDATE marketplace_reservation r SET ended_at = run.ended_at FROM "
            "marketplace_reservationrun run WHERE run.reservation_id = r.id AND r.id = ANY(%s)",
            [ids],
        )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE billing_usagerecord")
        cursor.execute("ANALYZE marketplace_reservationrun")
    return ids


def generate_running(start: datetime, orgs: list[int], offer_id: int, count: int) -> list[int]:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_RESERVATIONS, dict(orgs=orgs, offer=offer_id, status="running",
                                           start=start, spread=600, count=count))  # fmt: skip
        ids = [row[0] for row in cursor.fetchall()]
        cursor.execute(_RUNS, {"ids": ids, "length": None})
    return ids


# --- totals -------------------------------------------------------------------------------------


def python_totals(period: datetime) -> dict[int, Decimal]:
    """Per organization, from the raw rows: each reservation's seconds at each price, its disk
    over all its seconds, its start-up once and its egress reported, each rounded once with
    common.money, added up."""
    from django.db import connection, transaction

    from billing.periods import next_month_start
    from common.money import cost_of_seconds, round_amount

    month = [period, next_month_start(period)]
    seconds: dict[tuple[int, int, Decimal, str], int] = defaultdict(int)
    connection.ensure_connection()
    with transaction.atomic(), connection.connection.cursor(name="bench_usage") as cursor:
        cursor.itersize = 50_000
        cursor.execute(
            "SELECT org_id, reservation_id, price_per_hour, currency, seconds "
            "FROM billing_usagerecord WHERE interval_start >= %s AND interval_start < %s",
            month,
        )
        for org_id, reservation_id, price, currency, row_seconds in cursor:
            seconds[org_id, reservation_id, price, currency] += row_seconds
    totals: dict[int, Decimal] = defaultdict(Decimal)
    metered: dict[int, int] = defaultdict(int)
    for (org_id, reservation_id, price, currency), total in seconds.items():
        totals[org_id] += round_amount(cost_of_seconds(total, price), currency)
        metered[reservation_id] += total
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT r.id, r.org_id, r.currency, r.boot_seconds, r.disk_price_per_hour, "
            "r.egress_price_per_gb, run.price_per_hour, "
            "(SELECT sum(gb) FROM marketplace_egressreport e WHERE e.reservation_id = r.id "
            " AND e.reported_at >= %s AND e.reported_at < %s) "
            "FROM marketplace_reservation r JOIN marketplace_reservationrun run "
            "ON run.reservation_id = r.id AND run.number = 1 "
            "WHERE run.started_at >= %s AND run.started_at < %s",
            month + month,
        )
        for pk, org_id, currency, boot, disk_rate, egress_rate, price, gb in cursor.fetchall():
            totals[org_id] += round_amount(cost_of_seconds(boot, price), currency)
            totals[org_id] += round_amount(cost_of_seconds(metered[pk], disk_rate), currency)
            totals[org_id] += round_amount((gb or 0) * egress_rate, currency)
    return dict(totals)


_SQL_TOTALS = """
WITH compute AS (
    SELECT org_id, reservation_id, price_per_hour, sum(seconds) AS seconds
    FROM billing_usagerecord WHERE interval_start >= %(start)s AND interval_start < %(end)s
    GROUP BY org_id, reservation_id, price_per_hour
), charges AS (
    SELECT org_id, ROUND(seconds * price_per_hour / 3600, 2) AS amount FROM compute
    UNION ALL
    SELECT r.org_id, ROUND(sum(compute.seconds) * r.disk_price_per_hour / 3600, 2)
    FROM compute JOIN marketplace_reservation r ON r.id = compute.reservation_id
    GROUP BY r.org_id, r.id
    UNION ALL
    SELECT r.org_id, ROUND(r.boot_seconds * run.price_per_hour / 3600, 2)
    FROM marketplace_reservation r JOIN marketplace_reservationrun run
      ON run.reservation_id = r.id AND run.number = 1
    WHERE run.started_at >= %(start)s AND run.started_at < %(end)s
    UNION ALL
    SELECT r.org_id, ROUND(sum(e.gb) * r.egress_price_per_gb, 2)
    FROM marketplace_egressreport e JOIN marketplace_reservation r ON r.id = e.reservation_id
    WHERE e.reported_at >= %(start)s AND e.reported_at < %(end)s
    GROUP BY r.org_id, r.id
)
SELECT org_id, sum(amount) FROM charges GROUP BY org_id
"""


def sql_totals(period: datetime) -> dict[int, Decimal]:
    from django.db import connection

    from billing.periods import next_month_start

    with connection.cursor() as cursor:
        cursor.execute(_SQL_TOTALS, {"start": period, "end": next_month_start(period)})
        return dict(cursor.fetchall())


def invoice_totals(period: datetime) -> dict[int, Decimal]:
    from billing.models import Invoice, InvoiceStatus

    # Before tax: the tax is decided per organization's profile, not from the usage.
    invoices = Invoice.objects.filter(period_start=period, status=InvoiceStatus.OPEN)
    return dict(invoices.values_list("org_id", "subtotal"))


# --- phases -------------------------------------------------------------------------------------


def timed(phase: str, items: int, unit: str, work, note: str = "") -> tuple[Result, object]:
    """`items` < 0: as many as `work` returned."""
    probe = cpu_probe_seconds()
    start = time.perf_counter()
    value = work()
    items = len(value) if items < 0 else items
    result = Result(phase, items, unit, time.perf_counter() - start, probe, note)
    print(f"  {phase}: {items:,} {unit} in {result.seconds:.2f} s (CPU probe {probe:.2f} s)",
          flush=True)  # fmt: skip
    return result, value


def orm_close_sample(period: datetime, ids: list[int], sample: int, now: datetime) -> Result:
    """The per-reservation path on a sample of reservations, then its drafts removed so that
    the close starts from raw usage."""
    from django.db import transaction

    from billing.models import Invoice
    from billing.services.invoices import invoice_drafts_update_for_reservation

    chosen = random.Random(12).sample(ids, min(sample, len(ids)))

    def work():
        for reservation_id in chosen:
            invoice_drafts_update_for_reservation(reservation_id=reservation_id, now=now)

    result, _ = timed("per-reservation drafts update (old path, sample)", len(chosen),
                      "reservations", work)  # fmt: skip
    with transaction.atomic():
        drafts = Invoice.objects.filter(period_start=period)
        for draft in drafts:
            draft.lines.all().delete()
        drafts.delete()
    return result


def timed_close(period: datetime, now: datetime) -> tuple[Result, Result, Result, int]:
    from billing.services import finalisation

    original = finalisation.invoice_drafts_sync_period
    spent = {"sync": 0.0}

    def sync(**kwargs):
        start = time.perf_counter()
        try:
            return original(**kwargs)
        finally:
            spent["sync"] += time.perf_counter() - start

    finalisation.invoice_drafts_sync_period = sync
    try:
        close, invoices = timed(
            "close (set-based lines + finalise each)", -1, "invoices",
            lambda: finalisation.billing_period_close(period=period, now=now),
        )  # fmt: skip
    finally:
        finalisation.invoice_drafts_sync_period = original
    lines = Result("  of which: every draft's lines, set-based", len(invoices), "invoices",
                   spent["sync"], close.probe)  # fmt: skip
    finalise = Result("  of which: finalising, one transaction each", len(invoices),
                      "invoices", close.seconds - spent["sync"], close.probe)  # fmt: skip
    return close, lines, finalise, len(invoices)


def tick_phases(orgs: list[int], offer_id: int, args) -> list[Result]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from billing.models import UsageRecord
    from billing.services.bulk import usage_meter_open_runs
    from billing.services.invoices import reservation_meter_and_invoice
    from marketplace.services.reservations import whole_seconds

    now = whole_seconds(timezone.now())
    ids = generate_running(now - timedelta(minutes=30), orgs, offer_id, args.running)
    usage_meter_open_runs(now=now - timedelta(seconds=120))  # their drafts exist, as in life
    with CaptureQueriesContext(connection) as queries:
        tick, recorded = timed("metering tick, set-based (a minute of every open run)",
                               args.running, "running reservations",
                               lambda: usage_meter_open_runs(now=now - timedelta(seconds=60)))  # fmt: skip
    tick.note = f"{recorded:,} intervals, {len(queries)} queries"
    sample = random.Random(7).sample(ids, min(args.orm_sample // 2, len(ids)))

    def per_reservation():
        for reservation_id in sample:
            reservation_meter_and_invoice(reservation_id=reservation_id)

    with CaptureQueriesContext(connection) as queries:
        old, _ = timed("metering, per-reservation task (old path, sample)", len(sample),
                       "running reservations", per_reservation)  # fmt: skip
    old.note = f"{len(queries) / len(sample):.1f} queries a reservation"
    assert UsageRecord.objects.filter(reservation_id__in=ids).count() >= 2 * len(ids)
    return [tick, old]


# --- report -------------------------------------------------------------------------------------


def table(results: list[Result]) -> list[str]:
    header = ["phase", "items", "seconds", "ms/item", "CPU probe s", "note"]
    rows = [header] + [
        [r.phase, f"{r.items:,} {r.unit}", f"{r.seconds:.2f}",
         f"{1000 * r.seconds / r.items:.2f}" if r.items else "", f"{r.probe:.2f}", r.note]
        for r in results
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for index, row in enumerate(rows):
        cells = [c.ljust(w) if i in (0, 5) else c.rjust(w)
                 for i, (c, w) in enumerate(zip(row, widths, strict=True))]  # fmt: skip
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def environment_line(args) -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('server_version'), current_setting('fsync')")
        version, fsync = cursor.fetchone()
    return [
        f"billing benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: python -m bench billing "
        f"--orgs {args.orgs} --reservations {args.reservations} --intervals {args.intervals} "
        f"--running {args.running} --orm-sample {args.orm_sample}",
        f"machine: {os.cpu_count()} CPUs (CPU probe {cpu_probe_seconds():.2f} s), Python "
        f"{platform.python_version()}, PostgreSQL {version} (fsync {fsync}), database "
        f"{connection.settings_dict['NAME']}",
    ]


def run(args) -> int:
    url = bench_database_url()
    ensure_database(url)
    setup_django(url)
    from django.utils import timezone

    from billing.periods import previous_month_start

    now = timezone.now()
    period = previous_month_start(previous_month_start(now))
    empty_tables()
    offer, orgs = bench_offer(), bench_orgs(args.orgs)
    header = environment_line(args)
    print("\n".join(header), flush=True)
    started = time.perf_counter()
    ids = generate_month(period, orgs, offer.pk, args)
    generated = time.perf_counter() - started
    print(f"generated {len(ids):,} reservations, {args.intervals:,} intervals of "
          f"{period:%Y-%m} in {generated:.1f} s", flush=True)  # fmt: skip

    results = []
    orm = orm_close_sample(period, ids, args.orm_sample, now)
    python, by_python = timed("totals in Python (Decimal, from the raw rows)", args.intervals,
                              "intervals", lambda: python_totals(period))  # fmt: skip
    sql, by_sql = timed("totals in SQL (ROUND, from the raw rows)", args.intervals,
                        "intervals", lambda: sql_totals(period))  # fmt: skip
    close, lines, finalise, invoices = timed_close(period, now)
    by_invoices = invoice_totals(period)
    agree = by_python == by_sql == by_invoices
    results += [close, lines, finalise, orm, python, sql]
    results += tick_phases(orgs, offer.pk, args)
    tick, old_tick = results[-2], results[-1]

    orm_close = orm.seconds / orm.items * len(ids) + finalise.seconds
    old_tick_all = old_tick.seconds / old_tick.items * args.running
    grand = sum(by_invoices.values())
    lines_out = [
        *header,
        "",
        *table(results),
        "",
        f"close: {len(ids):,} reservations, {args.intervals:,} intervals, {len(orgs):,} "
        f"organizations -> {invoices:,} finalised invoices in {close.seconds:.2f} s (aim <= 30 s; "
        f"lines {lines.seconds:.2f} s, finalising {finalise.seconds:.2f} s)",
        f"totals agree to the cent, per organization: {'yes' if agree else 'NO'} (Python "
        f"{sum(by_python.values())}, SQL {sum(by_sql.values())}, invoices {grand})",
        f"per-reservation path, extrapolated from {orm.items} reservations to {len(ids):,}: "
        f"{orm_close:.0f} s for the close ({orm.seconds / orm.items * 1000:.1f} ms a "
        f"reservation, plus the same finalising): set-based is {orm_close / close.seconds:.1f}x "
        "faster",
        f"tick: {args.running:,} running reservations metered in {tick.seconds:.2f} s a minute "
        f"(aim <= 1 s); the per-reservation tasks, extrapolated from {old_tick.items}: "
        f"{old_tick_all:.1f} s, {old_tick_all / tick.seconds:.1f}x the set-based tick",
    ]
    print("\n" + "\n".join(lines_out))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines_out) + "\n")
    print(f"\nwritten to {args.output}")
    return 0 if agree else 1


COMMAND = BenchCommand(
    help="billing speed: a month of 1,000,000 intervals closed into invoices, and the tick",
    add_arguments=add_arguments,
    run=run,
)
