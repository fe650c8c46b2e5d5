"""An organization's spend in a month, from its invoice lines: by day, by GPU model and by
provider, each one grouped query.

The month's lines are those of its invoices for that period in one currency, drafts
included (the current month's running total), void invoices left out (voiding forgives):
so the month's total is what `org_month_invoiced` says, before tax.

A line bills one reservation's usage of a component over the month, not a day of it, so a
line counts on the day (UTC) its reservation was made, or on the month's first day for a
reservation carried over from an earlier month (and for an adjustment billing one): the
days then add up to the month, which a share of each line by its metered seconds would not,
once each share is rounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db.models import F, QuerySet, Sum
from django.db.models.functions import Greatest, TruncDate

from billing.models import InvoiceLine, InvoiceStatus
from billing.periods import next_month_start
from common.money import round_amount

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
    by_day = _amounts_by(
        lines,
        day=TruncDate(Greatest("reservation__created_at", F("invoice__period_start")), tzinfo=UTC),
    )
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


def _every_day(
    rows: list[dict], period: datetime, now: datetime, *, nothing: Decimal
) -> list[SpendRow]:
    """The month's days up to today (all of them for a past month), in order."""
    amounts = {row["day"]: row["amount"] for row in rows}
    end = min(next_month_start(period), now.astimezone(UTC) + timedelta(days=1))
    days = {period.date() + timedelta(days=n) for n in range(max((end - period).days, 0))}
    return [
        SpendRow(day.isoformat(), amounts.get(day, nothing)) for day in sorted(days | set(amounts))
    ]
