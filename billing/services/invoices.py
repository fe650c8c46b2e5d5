"""Invoices: a draft per organization, period and currency, rebuilt from usage records."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Sum

from billing.models import Invoice, InvoiceLine, InvoiceStatus, UsageRecord
from billing.services.usage import month_start, next_month_start, usage_record_for_reservation
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


@transaction.atomic
def invoice_draft_refresh(*, org_id: int, period_start: datetime, currency: str = "USD") -> Invoice:
    """Rebuild the draft's lines: one per reservation and locked price, amount rounded once."""
    period_start = month_start(period_start)
    invoice = Invoice.objects.select_for_update().get(
        pk=_draft_for(org_id, period_start, currency).pk
    )
    usage = (
        UsageRecord.objects.filter(
            org_id=org_id,
            currency=currency,
            interval_start__gte=period_start,
            interval_start__lt=invoice.period_end,
        )
        .values("reservation_id", "price_per_hour")
        .annotate(seconds=Sum("seconds"))
        .order_by("reservation_id", "price_per_hour")
    )
    invoice.lines.all().delete()
    lines = [
        InvoiceLine(
            invoice=invoice,
            reservation_id=row["reservation_id"],
            description=f"Reservation {row['reservation_id']}: {row['seconds']} s at {row['price_per_hour']}/h",
            seconds=row["seconds"],
            price_per_hour=row["price_per_hour"],
            amount=round_amount(cost_of_seconds(row["seconds"], row["price_per_hour"]), currency),
        )
        for row in usage
    ]
    InvoiceLine.objects.bulk_create(lines)
    invoice.total = sum((line.amount for line in lines), start=round_amount(Decimal(0), currency))
    invoice.save(update_fields=["total", "updated_at"])
    return invoice


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
    """Record new usage of a reservation, then rebuild every draft its usage falls in.

    Drafts are rebuilt even when no new usage appeared, so a run that crashed between the
    two steps is completed by the next one.
    """
    created = usage_record_for_reservation(reservation_id=reservation_id)
    periods = {
        (org_id, month_start(start), currency)
        for org_id, start, currency in UsageRecord.objects.filter(
            reservation_id=reservation_id
        ).values_list("org_id", "interval_start", "currency")
    }
    for org_id, period_start, currency in sorted(periods):
        if (
            not Invoice.objects.filter(org_id=org_id, period_start=period_start, currency=currency)
            .exclude(status=InvoiceStatus.DRAFT)
            .exists()
        ):
            invoice_draft_refresh(org_id=org_id, period_start=period_start, currency=currency)
    return len(created)
