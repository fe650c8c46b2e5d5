"""An organization's spend in a month, from its invoice lines: by day, by GPU model and by
provider, each one grouped query.

The month's lines are those of its invoices for that period in one currency, drafts
included (the current month's running total), void invoices left out (voiding forgives):
so the month's total is what `org_month_invoiced` says, before tax.

A line bills one reservation's usage of a component over the month, not a day of it. A
compute or disk line is spread over the days (UTC) by the seconds its reservation ran on each
(its usage intervals, compute at the line's price): each day's share rounded down to the
minor unit and the cents left given to the largest remainders, so the shares add up to the
line exactly and the days to the month. Start-up, egress, adjustments and lines with no
usage recorded in the month count on the day their reservation was made (the month's first
day for one made earlier).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import F, QuerySet, Sum
from django.db.models.functions import Greatest, TruncDate

from billing.models import ChargeComponent, InvoiceLine, InvoiceStatus
from billing.periods import next_month_start
from common.money import currency_exponent, round_amount

ZERO = Decimal(0)
UNKNOWN_GPU = "GPU not named"


@dataclass(frozen=True)
class SpendRow:
    label: str
    amount: Decimal


@dataclass(frozen=True)
class MonthSpend:
    period: datetime
    currency: str
    total: Decimal
    by_day: list[SpendRow]  # every day of the month so far, days without spend at zero
    by_gpu: list[SpendRow]  # dearest first
    by_provider: list[SpendRow]  # dearest first


def spend_lines(*, org, period: datetime, currency: str) -> QuerySet[InvoiceLine]:
    return InvoiceLine.objects.filter(
        invoice__org=org, invoice__period_start=period, invoice__currency=currency
    ).exclude(invoice__status=InvoiceStatus.VOID)


def org_month_spend_breakdown(*, org, period: datetime, currency: str, now: datetime) -> MonthSpend:
    lines = spend_lines(org=org, period=period, currency=currency)
    by_day = _amounts_by_day(lines, org=org, period=period, currency=currency)
    by_gpu = _amounts_by(
        lines,
        gpu=F("reservation__offer__gpu__name"),
        memory=F("reservation__offer__gpu__memory_gb"),
    )
    by_provider = _amounts_by(lines, provider=F("reservation__offer__provider__name"))
    return MonthSpend(
        period=period,
        currency=currency,
        total=round_amount(sum((row["amount"] for row in by_provider), start=ZERO), currency),
        by_day=_every_day(by_day, period, now, nothing=round_amount(ZERO, currency)),
        by_gpu=[SpendRow(_gpu_label(row), row["amount"]) for row in by_gpu],
        by_provider=[SpendRow(row["provider"], row["amount"]) for row in by_provider],
    )


def _amounts_by(lines: QuerySet[InvoiceLine], **keys) -> list[dict]:
    return list(
        lines.annotate(**keys)
        .values(*keys)
        .annotate(amount=Sum("amount"))
        .order_by("-amount", *keys)
    )


def _gpu_label(row: dict) -> str:
    if row["gpu"] is None:
        return UNKNOWN_GPU
    return f"{row['gpu']} {row['memory']}GB"


# Seconds each reservation ran on each day of the month, at each price: its usage intervals
# cut at midnight (UTC) and at the month's ends.
_USAGE_BY_DAY = """
SELECT u.reservation_id, u.price_per_hour, day::date,
       SUM(EXTRACT(EPOCH FROM LEAST(u.interval_end, day + INTERVAL '1 day')
                              - GREATEST(u.interval_start, day)))
FROM billing_usagerecord u,
     LATERAL generate_series(
         date_trunc('day', GREATEST(u.interval_start, %(start)s), 'UTC'),
         LEAST(u.interval_end, %(end)s) - INTERVAL '1 microsecond',
         INTERVAL '1 day') AS day
WHERE u.org_id = %(org)s AND u.interval_start < %(end)s AND u.interval_end > %(start)s
GROUP BY 1, 2, 3
"""

_SPREAD_BY_USAGE = (ChargeComponent.COMPUTE, ChargeComponent.DISK)


def _amounts_by_day(lines, *, org, period: datetime, currency: str) -> dict[date, Decimal]:
    rows = lines.values(
        "reservation_id",
        "component",
        "price_per_hour",
        "service_period_start",
        "amount",
        anchor=TruncDate(
            Greatest("reservation__created_at", F("invoice__period_start")), tzinfo=UTC
        ),
    )
    usage = _usage_by_day(org=org, start=period, end=next_month_start(period))
    exponent = currency_exponent(currency)
    amounts: dict[date, Decimal] = defaultdict(lambda: ZERO)
    for row in rows:
        seconds = _line_seconds_by_day(row, usage, period)
        spread = sum(seconds.values()) > 0
        shares = (
            _spread(row["amount"], seconds, exponent) if spread else {row["anchor"]: row["amount"]}
        )
        for day, share in shares.items():
            amounts[day] += share
    return amounts


def _usage_by_day(*, org, start: datetime, end: datetime) -> dict:
    """{reservation id: {price per hour: {day: seconds}}}"""
    usage: dict = defaultdict(lambda: defaultdict(dict))
    with connection.cursor() as cursor:
        cursor.execute(_USAGE_BY_DAY, {"org": org.pk, "start": start, "end": end})
        for reservation_id, price, day, seconds in cursor.fetchall():
            usage[reservation_id][price][day] = int(seconds)
    return usage


def _line_seconds_by_day(row: dict, usage: dict, period: datetime) -> dict[date, int]:
    """The seconds a line's amount is spread by: its reservation's running time in the month
    (compute: at the line's price); none for the other components and for adjustments."""
    if row["component"] not in _SPREAD_BY_USAGE or row["service_period_start"] != period:
        return {}
    by_price = usage.get(row["reservation_id"], {})
    if row["component"] == ChargeComponent.COMPUTE:
        return dict(by_price.get(row["price_per_hour"], {}))
    seconds: dict[date, int] = defaultdict(int)
    for days in by_price.values():
        for day, count in days.items():
            seconds[day] += count
    return seconds


def _spread(amount: Decimal, weights: dict[date, int], exponent: int) -> dict[date, Decimal]:
    """`amount` in shares proportional to `weights` that add up to it exactly: each rounded
    down to the minor unit, the units left to the largest remainders (the earlier day first)."""
    unit = Decimal(1).scaleb(-exponent)
    units = int(abs(amount) / unit)
    total = sum(weights.values())
    base = {day: units * weight // total for day, weight in weights.items()}
    left = units - sum(base.values())
    by_remainder = sorted(weights, key=lambda day: (-(units * weights[day] % total), day))
    for day in by_remainder[:left]:
        base[day] += 1
    sign = -1 if amount < 0 else 1
    return {day: sign * count * unit for day, count in base.items() if count}


def _every_day(
    amounts: dict[date, Decimal], period: datetime, now: datetime, *, nothing: Decimal
) -> list[SpendRow]:
    """The month's days up to today (all of them for a past month), in order."""
    end = min(next_month_start(period), now.astimezone(UTC) + timedelta(days=1))
    days = {period.date() + timedelta(days=n) for n in range(max((end - period).days, 0))}
    return [
        SpendRow(day.isoformat(), amounts.get(day, nothing)) for day in sorted(days | set(amounts))
    ]
