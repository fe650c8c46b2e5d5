"""Invoices: a draft per organization, period and currency, kept up to date from usage
records one reservation at a time."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from billing.models import Invoice, InvoiceLine, InvoiceLineKind, InvoiceStatus, UsageRecord
from billing.periods import month_start, next_month_start
from billing.services.usage import usage_record_for_reservation
from common.money import cost_of_seconds, round_amount
from marketplace.services.reservations import reservations_billed_set


def invoice_drafts_update_for_reservation(
    *, reservation_id: int, now: datetime | None = None
) -> None:
    """Bring this reservation's charges up to date, one month of usage at a time: on that
    month's draft, or, once the month is closed, as an adjustment on the current draft.
    Other reservations' lines are not touched: the work is this reservation's."""
    now = now or timezone.now()
    for org_id, service_period, currency in _periods_of(reservation_id):
        _bill_service_period(org_id, service_period, currency, reservation_id, now)
    reservations_record_billed(reservation_ids=[reservation_id])


def reservations_record_billed(*, reservation_ids) -> None:
    """Each reservation's metered seconds and the sum of its lines (drafts and issued
    invoices alike, void ones aside): its `usage_seconds` and `cost`. Two grouped queries."""
    ids = list(reservation_ids)
    seconds = dict(
        UsageRecord.objects.filter(reservation_id__in=ids)
        .values("reservation_id")
        .annotate(s=Sum("seconds"))
        .values_list("reservation_id", "s")
    )
    costs = dict(
        InvoiceLine.objects.filter(reservation_id__in=ids)
        .exclude(invoice__status=InvoiceStatus.VOID)
        .values("reservation_id")
        .annotate(a=Sum("amount"))
        .values_list("reservation_id", "a")
    )
    reservations_billed_set(
        billed={pk: (seconds.get(pk) or 0, costs.get(pk) or Decimal(0)) for pk in ids}
    )


def _periods_of(reservation_id: int) -> list[tuple[int, datetime, str]]:
    """The months this reservation has usage in, and those its draft lines still name
    (usage since taken back)."""
    metered = (
        UsageRecord.objects.filter(reservation_id=reservation_id)
        .annotate(period=TruncMonth("interval_start", tzinfo=UTC))
        .values_list("org_id", "period", "currency")
        .distinct()
    )
    on_drafts = (
        InvoiceLine.objects.filter(
            reservation_id=reservation_id, invoice__status=InvoiceStatus.DRAFT
        )
        .values_list("invoice__org_id", "service_period_start", "invoice__currency")
        .distinct()
    )
    return sorted(set(metered) | set(on_drafts))


@transaction.atomic
def _bill_service_period(
    org_id: int, service_period: datetime, currency: str, reservation_id: int, now: datetime
) -> None:
    invoice = _locked_draft(org_id, service_period, currency)
    kind = InvoiceLineKind.COMPUTE
    if invoice is None and _period_closed(org_id, service_period, currency, now):
        invoice, kind = (
            _locked_draft(org_id, month_start(now), currency),
            InvoiceLineKind.ADJUSTMENT,
        )
    lines = _lines_due(reservation_id, org_id, service_period, currency, kind)
    if invoice is None:
        if not lines:
            return
        target = service_period if kind == InvoiceLineKind.COMPUTE else month_start(now)
        invoice = _locked_draft(org_id, target, currency, create=True)
    _replace_lines(invoice, reservation_id, service_period, lines)


def _period_closed(org_id: int, period: datetime, currency: str, now: datetime) -> bool:
    """The month is over and its invoice is finalised (no draft of it is left)."""
    if now < next_month_start(period):
        return False
    invoices = Invoice.objects.filter(org_id=org_id, period_start=period, currency=currency)
    return invoices.exclude(status=InvoiceStatus.DRAFT).exists()


def _lines_due(
    reservation_id: int, org_id: int, service_period: datetime, currency: str, kind: str
) -> list[InvoiceLine]:
    """What the month's usage comes to at each locked price, less what finalised invoices
    already billed of it: the amount is rounded once, over the month's seconds, so that all
    the lines of a month add up to that one rounded figure."""
    metered = {
        row["price_per_hour"]: row["seconds"]
        for row in UsageRecord.objects.filter(
            reservation_id=reservation_id,
            org_id=org_id,
            currency=currency,
            interval_start__gte=service_period,
            interval_start__lt=next_month_start(service_period),
        )
        .values("price_per_hour")
        .annotate(seconds=Sum("seconds"))
    }
    billed = {
        row["price_per_hour"]: (row["seconds"], row["amount"])
        for row in InvoiceLine.objects.filter(
            reservation_id=reservation_id,
            service_period_start=service_period,
            invoice__org_id=org_id,
            invoice__currency=currency,
        )
        .exclude(invoice__status=InvoiceStatus.DRAFT)
        .values("price_per_hour")
        .annotate(seconds=Sum("seconds"), amount=Sum("amount"))
    }
    lines = []
    for price in sorted(set(metered) | set(billed)):
        seconds = metered.get(price, 0)
        amount = round_amount(cost_of_seconds(seconds, price), currency)
        billed_seconds, billed_amount = billed.get(price, (0, Decimal(0)))
        if (seconds - billed_seconds, amount - billed_amount) != (0, 0):
            lines.append(
                _line(reservation_id, service_period, kind, seconds - billed_seconds,
                      price, amount - billed_amount)
            )  # fmt: skip
    return lines


def _line(
    reservation_id: int,
    service_period: datetime,
    kind: str,
    seconds: int,
    price_per_hour: Decimal,
    amount: Decimal,
) -> InvoiceLine:
    month = f"{service_period:%Y-%m}"
    what = "usage of" if kind == InvoiceLineKind.COMPUTE else "late usage of"
    return InvoiceLine(
        reservation_id=reservation_id,
        kind=kind,
        service_period_start=service_period,
        description=f"Reservation {reservation_id}, {what} {month}: {seconds} s at {price_per_hour}/h",
        seconds=seconds,
        price_per_hour=price_per_hour,
        amount=amount,
    )


def _replace_lines(
    invoice: Invoice, reservation_id: int, service_period: datetime, lines: list[InvoiceLine]
) -> None:
    """The reservation's lines for that month on the (locked) draft become `lines`; the
    totals move by the difference."""
    old = invoice.lines.filter(reservation_id=reservation_id, service_period_start=service_period)
    old_amount = old.aggregate(amount=Sum("amount"))["amount"] or Decimal(0)
    old.delete()
    for line in lines:
        line.invoice = invoice
    InvoiceLine.objects.bulk_create(lines)
    invoice.subtotal += sum((line.amount for line in lines), start=Decimal(0)) - old_amount
    invoice.total = invoice.amount_due = invoice.subtotal + invoice.tax
    invoice.save(update_fields=["subtotal", "total", "amount_due", "updated_at"])


def _locked_draft(
    org_id: int, period_start: datetime, currency: str, *, create: bool = False
) -> Invoice | None:
    """The period's draft, row locked; a draft finalised meanwhile is no draft (PostgreSQL
    re-reads a locked row's status once the lock is granted)."""
    drafts = Invoice.objects.select_for_update().filter(
        org_id=org_id, period_start=period_start, currency=currency, status=InvoiceStatus.DRAFT
    )
    invoice = drafts.first()
    if invoice is None and create:
        _draft_create(org_id, period_start, currency)
        invoice = drafts.get()
    return invoice


def _draft_create(org_id: int, period_start: datetime, currency: str) -> None:
    try:
        with transaction.atomic():
            Invoice.objects.create(
                org_id=org_id,
                period_start=period_start,
                period_end=next_month_start(period_start),
                currency=currency,
                status=InvoiceStatus.DRAFT,
            )
    except IntegrityError:
        pass  # another transaction created it: the caller locks that one


def reservation_meter_and_invoice(*, reservation_id: int) -> int:
    """Record new usage of a reservation, then bring its draft lines up to date.

    The lines are updated even when no new usage appeared, so a run that crashed between the
    two steps is completed by the next one.
    """
    created = usage_record_for_reservation(reservation_id=reservation_id)
    invoice_drafts_update_for_reservation(reservation_id=reservation_id)
    return len(created)
