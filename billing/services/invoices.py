"""Invoices: a draft per organization, period and currency, kept up to date from usage
records one reservation at a time."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.db.models.functions import TruncMonth

from billing.models import Invoice, InvoiceLine, InvoiceStatus, UsageRecord
from billing.services.usage import next_month_start, usage_record_for_reservation
from common.money import cost_of_seconds, round_amount


def _draft_for(org_id: int, period_start: datetime, currency: str) -> Invoice:
    defaults = {"period_end": next_month_start(period_start)}
    try:
        with transaction.atomic():
            invoice, _ = Invoice.objects.get_or_create(
                org_id=org_id,
                period_start=period_start,
                currency=currency,
                status=InvoiceStatus.DRAFT,
                defaults=defaults,
            )
    except IntegrityError:  # a concurrent refresh created it
        invoice = Invoice.objects.get(
            org_id=org_id, period_start=period_start, currency=currency, status=InvoiceStatus.DRAFT
        )
    return invoice


def invoice_drafts_update_for_reservation(*, reservation_id: int) -> None:
    """Bring this reservation's lines up to date on every draft its usage falls in (and on
    drafts that still carry lines of usage since taken back). Other lines are not touched:
    the work is the reservation's, whatever the size of the draft."""
    for org_id, period_start, currency in _periods_of(reservation_id):
        if not _period_closed(org_id, period_start, currency):
            _draft_lines_update(org_id, period_start, currency, reservation_id)


def _periods_of(reservation_id: int) -> list[tuple[int, datetime, str]]:
    metered = (
        UsageRecord.objects.filter(reservation_id=reservation_id)
        .annotate(period=TruncMonth("interval_start", tzinfo=UTC))
        .values_list("org_id", "period", "currency")
        .distinct()
    )
    invoiced = (
        InvoiceLine.objects.filter(
            reservation_id=reservation_id, invoice__status=InvoiceStatus.DRAFT
        )
        .values_list("invoice__org_id", "invoice__period_start", "invoice__currency")
        .distinct()
    )
    return sorted(set(metered) | set(invoiced))


def _period_closed(org_id: int, period_start: datetime, currency: str) -> bool:
    invoices = Invoice.objects.filter(org_id=org_id, period_start=period_start, currency=currency)
    return invoices.exclude(status=InvoiceStatus.DRAFT).exists()


@transaction.atomic
def _draft_lines_update(org_id: int, period_start: datetime, currency: str, reservation_id: int):
    """Replace the reservation's lines on the draft (one per locked price, rounded once)
    and move the total by the difference, with the draft row locked."""
    usage = (
        UsageRecord.objects.filter(
            reservation_id=reservation_id,
            org_id=org_id,
            currency=currency,
            interval_start__gte=period_start,
            interval_start__lt=next_month_start(period_start),
        )
        .values("price_per_hour")
        .annotate(seconds=Sum("seconds"))
        .order_by("price_per_hour")
    )
    lines = [
        _line(reservation_id, row["seconds"], row["price_per_hour"], currency) for row in usage
    ]
    invoice = _locked_draft(org_id, period_start, currency, create=bool(lines))
    if invoice is None:
        return
    old = invoice.lines.filter(reservation_id=reservation_id)
    old_amount = old.aggregate(amount=Sum("amount"))["amount"] or Decimal(0)
    old.delete()
    for line in lines:
        line.invoice = invoice
    InvoiceLine.objects.bulk_create(lines)
    invoice.total += sum((line.amount for line in lines), start=Decimal(0)) - old_amount
    invoice.save(update_fields=["total", "updated_at"])


def _locked_draft(org_id: int, period_start: datetime, currency: str, *, create: bool):
    if create:
        return Invoice.objects.select_for_update().get(
            pk=_draft_for(org_id, period_start, currency).pk
        )
    return (
        Invoice.objects.select_for_update()
        .filter(org_id=org_id, period_start=period_start, currency=currency)
        .filter(status=InvoiceStatus.DRAFT)
        .first()
    )


def _line(reservation_id: int, seconds: int, price_per_hour: Decimal, currency: str) -> InvoiceLine:
    return InvoiceLine(
        reservation_id=reservation_id,
        description=f"Reservation {reservation_id}: {seconds} s at {price_per_hour}/h",
        seconds=seconds,
        price_per_hour=price_per_hour,
        amount=round_amount(cost_of_seconds(seconds, price_per_hour), currency),
    )


CSV_HEADER = [
    "invoice",
    "period_start",
    "period_end",
    "currency",
    "line",
    "reservation",
    "description",
    "seconds",
    "price_per_hour",
    "amount",
]


def invoice_csv(*, invoice: Invoice) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    label = invoice.number or f"DRAFT-{invoice.pk}"
    for line in invoice.lines.all():
        writer.writerow(
            [
                label,
                invoice.period_start.isoformat(),
                invoice.period_end.isoformat(),
                invoice.currency,
                line.pk,
                line.reservation_id,
                line.description,
                line.seconds,
                line.price_per_hour,
                line.amount,
            ]
        )
    return buffer.getvalue()


def reservation_meter_and_invoice(*, reservation_id: int) -> int:
    """Record new usage of a reservation, then bring its draft lines up to date.

    The lines are updated even when no new usage appeared, so a run that crashed between the
    two steps is completed by the next one.
    """
    created = usage_record_for_reservation(reservation_id=reservation_id)
    invoice_drafts_update_for_reservation(reservation_id=reservation_id)
    return len(created)
