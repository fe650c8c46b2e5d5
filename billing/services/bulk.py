"""Set-based metering and draft lines: the same rules as billing/services/usage.py and
invoices.py (each second once, cut at month boundaries, rounded once per reservation,
month and locked price, less what finalised invoices billed), in a few SQL statements for
every open run or every reservation of a month at once, instead of ~10 queries per
reservation.

`usage_meter_open_runs` is the beat tick; `invoice_drafts_sync_period` brings every draft of
a month up to date before it is closed (and so catches a lost meter task). The
per-reservation path stays for a run's end and for usage of a month already closed (an
adjustment on the current draft), which both hand over to it.
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from billing.periods import month_start, next_month_start
from billing.services.invoices import (
    invoice_drafts_update_for_reservation,
    reservations_record_billed,
)
from common.money import currency_exponent
from marketplace.models import ReservationStatus
from marketplace.services.reservations import whole_seconds

_METERED_STATUSES = [ReservationStatus.RUNNING.value, ReservationStatus.TERMINATING.value]

# The runs to meter, locked. SKIP LOCKED: a run being closed or metered by the
# per-reservation path is left for the next tick (that path meters it to its end anyway).
# A statement of its own, before the insert: in READ COMMITTED the insert's snapshot then
# sees every interval committed by a recorder that held the lock before us.
_LOCK_OPEN_RUNS = """
SELECT run.id
FROM marketplace_reservationrun run
JOIN marketplace_reservation reservation ON reservation.id = run.reservation_id
WHERE run.ended_at IS NULL AND reservation.status = ANY(%(statuses)s)
ORDER BY run.id
FOR UPDATE OF run SKIP LOCKED
"""

# Each run's next stretch, from its chain's end (or its start) up to now or the reservation's
# reserved end (usage.billable_end), cut at every month boundary (computed in UTC whatever
# the session's time zone).
_INSERT_NEXT_INTERVALS = """
WITH chained AS (
    SELECT run.id, run.reservation_id, reservation.org_id, run.price_per_hour, run.currency,
           COALESCE((SELECT max(usage.interval_end) FROM billing_usagerecord usage
                     WHERE usage.run_id = run.id), run.started_at) AS since,
           LEAST(%(now)s, reservation.reserved_until) AS until
    FROM marketplace_reservationrun run
    JOIN marketplace_reservation reservation ON reservation.id = run.reservation_id
    WHERE run.id = ANY(%(run_ids)s)
), cut AS (
    SELECT chained.*,
           GREATEST(chained.since, month AT TIME ZONE 'UTC') AS interval_start,
           LEAST(chained.until, (month + interval '1 month') AT TIME ZONE 'UTC') AS interval_end
    FROM chained,
         generate_series(date_trunc('month', chained.since AT TIME ZONE 'UTC'),
                         date_trunc('month', chained.until AT TIME ZONE 'UTC'),
                         interval '1 month') AS month
    WHERE chained.since < chained.until
)
INSERT INTO billing_usagerecord (reservation_id, run_id, org_id, interval_start, interval_end,
                                 seconds, price_per_hour, currency, created_at)
SELECT reservation_id, id, org_id, interval_start, interval_end,
       extract(epoch FROM interval_end - interval_start)::integer, price_per_hour, currency,
       statement_timestamp()
FROM cut
WHERE interval_start < interval_end
RETURNING reservation_id, org_id, currency,
          date_trunc('month', interval_start AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
"""

_PAIRS_TABLE = """
CREATE TEMP TABLE billing_pairs (
    reservation_id bigint, org_id bigint, currency varchar(3), period timestamptz
) ON COMMIT DROP
"""

# A draft for each (org, month, currency) that has none and whose month is not closed; a
# closed month (ended, finalised, no draft left) goes to the per-reservation path.
_CREATE_MISSING_DRAFTS = """
INSERT INTO billing_invoice (org_id, period_start, period_end, currency, status, subtotal, tax,
                             total, amount_due, created_at, updated_at)
SELECT DISTINCT pairs.org_id, pairs.period,
       (pairs.period AT TIME ZONE 'UTC' + interval '1 month') AT TIME ZONE 'UTC',
       pairs.currency, 'draft', 0, 0, 0, 0, statement_timestamp(), statement_timestamp()
FROM billing_pairs pairs
WHERE NOT EXISTS (
    SELECT 1 FROM billing_invoice invoice
    WHERE invoice.org_id = pairs.org_id AND invoice.period_start = pairs.period
      AND invoice.currency = pairs.currency
      AND (invoice.status = 'draft'
           OR %(now)s >= (pairs.period AT TIME ZONE 'UTC' + interval '1 month') AT TIME ZONE 'UTC')
)
ON CONFLICT (org_id, period_start, currency) WHERE status = 'draft' DO NOTHING
"""

# In id order, so that two set-based passes never wait on each other in a cycle. A draft
# finalised meanwhile is no longer selected once its lock is granted.
_LOCK_DRAFTS = """
SELECT invoice.id FROM billing_invoice invoice
WHERE invoice.status = 'draft' AND (invoice.org_id, invoice.period_start, invoice.currency) IN
      (SELECT org_id, period, currency FROM billing_pairs)
ORDER BY invoice.id
FOR UPDATE
"""

_CLOSED_RESERVATIONS = """
SELECT DISTINCT pairs.reservation_id FROM billing_pairs pairs
WHERE NOT EXISTS (
    SELECT 1 FROM billing_invoice invoice
    WHERE invoice.status = 'draft' AND invoice.org_id = pairs.org_id
      AND invoice.period_start = pairs.period AND invoice.currency = pairs.currency
)
ORDER BY 1
"""

# What each (reservation, month, component, rate) comes to (invoices._charges: compute and
# disk over the metered seconds, the first run's start-up, the egress reported), rounded
# once over the month's quantity (numeric ROUND is half away from zero: half up for these
# positive amounts, as common.money.round_amount), less what finalised invoices billed of it.
# Each (reservation, month) with what its quote locked, in a table of its own so that the
# planner knows how many rows it joins (a CTE's filtered estimate of one row made it loop).
_MONTHS_TABLE = """
CREATE TEMP TABLE billing_months ON COMMIT DROP AS
SELECT pairs.*, reservation.disk_price_per_hour, reservation.boot_seconds,
       reservation.egress_price_per_gb, reservation.currency = pairs.currency AS own_currency,
       (pairs.period AT TIME ZONE 'UTC' + interval '1 month') AT TIME ZONE 'UTC' AS period_end
FROM billing_pairs pairs
JOIN marketplace_reservation reservation
  ON reservation.id = pairs.reservation_id AND reservation.org_id = pairs.org_id
"""

_DUE_LINES = """
CREATE TEMP TABLE billing_due ON COMMIT DROP AS
WITH exponents AS (
    SELECT * FROM unnest(%(currencies)s::varchar[], %(exponents)s::integer[])
        AS exponent(currency, places)
), compute AS (
    SELECT months.reservation_id, months.org_id, months.currency, months.period,
           usage.price_per_hour, months.disk_price_per_hour, months.own_currency,
           sum(usage.seconds) AS seconds
    FROM billing_months months
    JOIN billing_usagerecord usage
      ON usage.reservation_id = months.reservation_id AND usage.org_id = months.org_id
     AND usage.currency = months.currency AND usage.interval_start >= months.period
     AND usage.interval_start < months.period_end
    GROUP BY 1, 2, 3, 4, 5, 6, 7
), metered AS (
    SELECT reservation_id, org_id, currency, period, 'compute'::varchar(20) AS component,
           price_per_hour, seconds, 0::numeric AS gigabytes
    FROM compute
    UNION ALL
    SELECT reservation_id, org_id, currency, period, 'disk', disk_price_per_hour,
           sum(seconds), 0
    FROM compute
    WHERE own_currency AND disk_price_per_hour > 0
    GROUP BY 1, 2, 3, 4, 5, 6
    UNION ALL
    SELECT months.reservation_id, months.org_id, months.currency, months.period, 'boot',
           run.price_per_hour, months.boot_seconds, 0
    FROM billing_months months
    JOIN marketplace_reservationrun run
      ON run.reservation_id = months.reservation_id AND run.number = 1
     AND run.started_at >= months.period AND run.started_at < months.period_end
    WHERE months.own_currency AND months.boot_seconds > 0
    UNION ALL
    SELECT months.reservation_id, months.org_id, months.currency, months.period, 'egress',
           months.egress_price_per_gb, 0, sum(egress.gb)
    FROM billing_months months
    JOIN marketplace_egressreport egress
      ON egress.reservation_id = months.reservation_id AND egress.reported_at >= months.period
     AND egress.reported_at < months.period_end
    WHERE months.own_currency AND months.egress_price_per_gb > 0
    GROUP BY 1, 2, 3, 4, 5, 6
), billed AS (
    SELECT pairs.reservation_id, pairs.org_id, pairs.currency, pairs.period, line.component,
           line.price_per_hour, sum(line.seconds) AS seconds, sum(line.gigabytes) AS gigabytes,
           sum(line.amount) AS amount
    FROM billing_pairs pairs
    JOIN billing_invoiceline line
      ON line.reservation_id = pairs.reservation_id AND line.service_period_start = pairs.period
    JOIN billing_invoice invoice
      ON invoice.id = line.invoice_id AND invoice.org_id = pairs.org_id
     AND invoice.currency = pairs.currency AND invoice.status <> 'draft'
    GROUP BY 1, 2, 3, 4, 5, 6
), due AS (
    SELECT reservation_id, org_id, currency, period, component, price_per_hour,
           COALESCE(metered.seconds, 0) - COALESCE(billed.seconds, 0) AS seconds,
           COALESCE(metered.gigabytes, 0) - COALESCE(billed.gigabytes, 0) AS gigabytes,
           ROUND(COALESCE(metered.seconds, 0) * price_per_hour / 3600
                 + COALESCE(metered.gigabytes, 0) * price_per_hour, exponent.places)
               - COALESCE(billed.amount, 0) AS amount
    FROM metered
    FULL JOIN billed USING (reservation_id, org_id, currency, period, component, price_per_hour)
    JOIN exponents exponent USING (currency)
)
SELECT invoice.id AS invoice_id, due.reservation_id, due.component AS kind, due.component,
       due.period AS service_period_start, due.seconds::integer AS seconds,
       due.gigabytes::numeric(16, 6) AS gigabytes, due.price_per_hour,
       due.amount::numeric(16, 2) AS amount
FROM due
JOIN billing_invoice invoice
  ON invoice.status = 'draft' AND invoice.org_id = due.org_id
 AND invoice.period_start = due.period AND invoice.currency = due.currency
WHERE (due.seconds, due.gigabytes, due.amount) <> (0, 0, 0)
"""

# The (draft, reservation, month) whose lines on the draft are not what is due: only those
# are replaced, and the draft's totals move by the difference.
_CHANGED = """
CREATE TEMP TABLE billing_changed ON COMMIT DROP AS
WITH current AS (
    SELECT line.invoice_id, line.reservation_id, line.kind, line.component,
           line.service_period_start, line.seconds, line.gigabytes, line.price_per_hour,
           line.amount
    FROM billing_invoiceline line
    JOIN (SELECT DISTINCT invoice.id AS invoice_id, pairs.reservation_id, pairs.period
          FROM billing_pairs pairs
          JOIN billing_invoice invoice
            ON invoice.status = 'draft' AND invoice.org_id = pairs.org_id
           AND invoice.period_start = pairs.period AND invoice.currency = pairs.currency) scope
      ON line.invoice_id = scope.invoice_id AND line.reservation_id = scope.reservation_id
     AND line.service_period_start = scope.period
), differing AS (
    (SELECT * FROM current EXCEPT ALL SELECT * FROM billing_due)
    UNION ALL
    (SELECT * FROM billing_due EXCEPT ALL SELECT * FROM current)
)
SELECT DISTINCT invoice_id, reservation_id, service_period_start FROM differing
"""

_MOVE_TOTALS = """
WITH old AS (
    SELECT line.invoice_id, sum(line.amount) AS amount
    FROM billing_invoiceline line
    JOIN billing_changed changed USING (invoice_id, reservation_id, service_period_start)
    GROUP BY 1
), new AS (
    SELECT due.invoice_id, sum(due.amount) AS amount
    FROM billing_due due
    JOIN billing_changed changed USING (invoice_id, reservation_id, service_period_start)
    GROUP BY 1
), delta AS (
    SELECT invoice_id, COALESCE(new.amount, 0) - COALESCE(old.amount, 0) AS amount
    FROM old FULL JOIN new USING (invoice_id)
)
UPDATE billing_invoice invoice
SET subtotal = invoice.subtotal + delta.amount,
    total = invoice.subtotal + delta.amount + invoice.tax,
    amount_due = invoice.subtotal + delta.amount + invoice.tax,
    updated_at = statement_timestamp()
FROM delta
WHERE invoice.id = delta.invoice_id
"""

_DELETE_CHANGED = """
DELETE FROM billing_invoiceline line
USING billing_changed changed
WHERE line.invoice_id = changed.invoice_id AND line.reservation_id = changed.reservation_id
  AND line.service_period_start = changed.service_period_start
"""

# The description as invoices._line writes it.
_INSERT_CHANGED = """
INSERT INTO billing_invoiceline (invoice_id, reservation_id, kind, component,
                                 service_period_start, description, seconds, gigabytes,
                                 price_per_hour, amount)
SELECT due.invoice_id, due.reservation_id, due.kind, due.component, due.service_period_start,
       'Reservation ' || due.reservation_id || ', '
           || CASE due.component WHEN 'compute' THEN 'usage of' WHEN 'boot' THEN 'start-up in'
                                 WHEN 'disk' THEN 'disk in' ELSE 'egress in' END || ' '
           || to_char(due.service_period_start AT TIME ZONE 'UTC', 'YYYY-MM') || ': '
           || CASE WHEN due.component = 'egress'
                   THEN due.gigabytes || ' GB at ' || due.price_per_hour || '/GB'
                   ELSE due.seconds || ' s at ' || due.price_per_hour || '/h' END,
       due.seconds, due.gigabytes, due.price_per_hour, due.amount
FROM billing_due due
JOIN billing_changed changed USING (invoice_id, reservation_id, service_period_start)
ORDER BY due.invoice_id, due.reservation_id, due.service_period_start, due.component,
         due.price_per_hour
"""

# The reservations with charges in the month (usage, or egress reported). A line whose usage
# was all taken back is left alone: the trim corrects the draft in the transaction that ends
# the run.
_PERIOD_PAIRS = """
INSERT INTO billing_pairs
SELECT DISTINCT usage.reservation_id, usage.org_id, usage.currency, %(period)s::timestamptz
FROM billing_usagerecord usage
WHERE usage.interval_start >= %(period)s AND usage.interval_start < %(next)s
UNION
SELECT DISTINCT reservation.id, reservation.org_id, reservation.currency, %(period)s::timestamptz
FROM marketplace_egressreport egress
JOIN marketplace_reservation reservation ON reservation.id = egress.reservation_id
WHERE egress.reported_at >= %(period)s AND egress.reported_at < %(next)s
"""


@transaction.atomic
def usage_meter_open_runs(*, now: datetime | None = None) -> int:
    """The beat tick: record the next interval of every open run of a running reservation
    up to now, and bring those reservations' draft lines up to date, in one transaction.
    Returns the intervals recorded."""
    now = whole_seconds(now or timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_OPEN_RUNS, {"statuses": _METERED_STATUSES})
        run_ids = [row[0] for row in cursor.fetchall()]
        if not run_ids:
            return 0
        cursor.execute(_INSERT_NEXT_INTERVALS, {"run_ids": run_ids, "now": now})
        recorded = cursor.fetchall()
        if recorded:
            cursor.execute(_PAIRS_TABLE)
            cursor.executemany(
                "INSERT INTO billing_pairs VALUES (%s, %s, %s, %s)", sorted(set(recorded))
            )
            _sync_lines(cursor, now)
    return len(recorded)


@transaction.atomic
def invoice_drafts_sync_period(*, period: datetime, now: datetime | None = None) -> int:
    """Every draft of the month carries every reservation's lines, recomputed from the
    month's usage: lines that differ are replaced (a lost meter task, a crash between
    metering and billing). Returns the reservations' lines replaced."""
    now = now or timezone.now()
    period = month_start(period)
    with connection.cursor() as cursor:
        cursor.execute(_PAIRS_TABLE)
        cursor.execute(_PERIOD_PAIRS, {"period": period, "next": next_month_start(period)})
        return _sync_lines(cursor, now)


def _sync_lines(cursor, now: datetime) -> int:
    """The draft lines of the (reservation, org, currency, month) in billing_pairs become
    what is due, and the reservations whose lines changed record their new figures."""
    cursor.execute("ANALYZE billing_pairs")
    cursor.execute(_CREATE_MISSING_DRAFTS, {"now": now})
    cursor.execute(_LOCK_DRAFTS)
    cursor.execute(_CLOSED_RESERVATIONS)
    closed = [row[0] for row in cursor.fetchall()]
    cursor.execute("SELECT DISTINCT currency FROM billing_pairs")
    currencies = [row[0] for row in cursor.fetchall()]
    exponents = [currency_exponent(currency) for currency in currencies]
    cursor.execute(_MONTHS_TABLE)
    cursor.execute("ANALYZE billing_months")
    cursor.execute(_DUE_LINES, {"currencies": currencies, "exponents": exponents})
    cursor.execute(_CHANGED)
    cursor.execute("SELECT count(*) FROM billing_changed")
    (changed,) = cursor.fetchone()
    if changed:
        cursor.execute(_MOVE_TOTALS)
        cursor.execute(_DELETE_CHANGED)
        cursor.execute(_INSERT_CHANGED)
        cursor.execute("SELECT DISTINCT reservation_id FROM billing_changed")
        reservations_record_billed(reservation_ids=[row[0] for row in cursor.fetchall()])
    for table in ("billing_changed", "billing_due", "billing_months", "billing_pairs"):
        cursor.execute(f"DROP TABLE {table}")
    # Usage of a month already closed is billed as an adjustment on the current draft: rare,
    # and the per-reservation path has that rule.
    for reservation_id in closed:
        invoice_drafts_update_for_reservation(reservation_id=reservation_id, now=now)
    return changed
