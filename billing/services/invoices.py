"""Invoices: a draft per organization, period and currency, kept up to date from usage
records one reservation at a time."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from billing.models import (
    ChargeComponent,
    Invoice,
    InvoiceLine,
    InvoiceLineKind,
    InvoiceStatus,
    UsageRecord,
)
from billing.periods import month_start, next_month_start
from billing.services.usage import usage_record_for_reservation
from common.money import cost_of_seconds, round_amount
from marketplace.models import EgressReport, Reservation, ReservationRun
from marketplace.services.reservations import reservations_billed_set


@transaction.atomic
def invoice_drafts_update_for_reservation(
    *, reservation_id: int, now: datetime | None = None
) -> None:
    """Bring this reservation's charges up to date, one month of usage at a time: on that
    month's draft, or, once the month is closed, as an adjustment on the current draft.
    Other reservations' lines are not touched: the work is this reservation's."""
    now = now or timezone.now()
    periods = _periods_of(reservation_id)
    _lock_drafts_in_id_order(periods, now)
    for org_id, service_period, currency in periods:
        _bill_service_period(org_id, service_period, currency, reservation_id, now)
    reservations_record_billed(reservation_ids=[reservation_id])


def _lock_drafts_in_id_order(periods: list[tuple[int, datetime, str]], now: datetime) -> None:
    """Every existing draft this update may write, locked up front in id order, as the
    metering tick locks its drafts: taken month by month instead (the run-close receiver
    runs this inside the transaction that ends the run), two months' drafts whose ids run
    the other way made a lock cycle with the tick."""
    if not periods:
        return
    months = {period for _, period, _ in periods} | {month_start(now)}
    list(
        Invoice.objects.select_for_update()
        .filter(
            org_id__in={org_id for org_id, _, _ in periods},
            currency__in={currency for _, _, currency in periods},
            period_start__in=months,
            status=InvoiceStatus.DRAFT,
        )
        .order_by("id")
        .values_list("id", flat=True)
    )


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
    """The months this reservation has charges in (usage, its start-up, egress), and those
    its draft lines still name (usage since taken back)."""
    metered = (
        UsageRecord.objects.filter(reservation_id=reservation_id)
        .annotate(period=TruncMonth("interval_start", tzinfo=UTC))
        .values_list("org_id", "period", "currency")
    )
    booted = (
        ReservationRun.objects.filter(reservation_id=reservation_id, number=1)
        .annotate(period=TruncMonth("started_at", tzinfo=UTC))
        .values_list("reservation__org_id", "period", "reservation__currency")
    )
    sent = (
        EgressReport.objects.filter(reservation_id=reservation_id)
        .annotate(period=TruncMonth("reported_at", tzinfo=UTC))
        .values_list("reservation__org_id", "period", "reservation__currency")
    )
    on_drafts = InvoiceLine.objects.filter(
        reservation_id=reservation_id, invoice__status=InvoiceStatus.DRAFT
    ).values_list("invoice__org_id", "service_period_start", "invoice__currency")
    return sorted(set(metered) | set(booted) | set(sent) | set(on_drafts))


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
    """What each component of the month comes to at each rate, less what finalised invoices
    already billed of it: the amount is rounded once, over the month's quantity, so that all
    the lines of a month add up to that one rounded figure."""
    charged = _charges(reservation_id, org_id, service_period, currency)
    billed = {
        (row["component"], row["price_per_hour"]): (row["seconds"], row["gigabytes"], row["amount"])
        for row in InvoiceLine.objects.filter(
            reservation_id=reservation_id,
            service_period_start=service_period,
            invoice__org_id=org_id,
            invoice__currency=currency,
        )
        .exclude(invoice__status=InvoiceStatus.DRAFT)
        .values("component", "price_per_hour")
        .annotate(seconds=Sum("seconds"), gigabytes=Sum("gigabytes"), amount=Sum("amount"))
    }
    lines = []
    for component, price in sorted(set(charged) | set(billed)):
        seconds, gigabytes = charged.get((component, price), (0, Decimal(0)))
        amount = round_amount(cost_of_seconds(seconds, price) + gigabytes * price, currency)
        billed_seconds, billed_gb, billed_amount = billed.get(
            (component, price), (0, Decimal(0), Decimal(0))
        )
        due = (seconds - billed_seconds, gigabytes - billed_gb, amount - billed_amount)
        if due != (0, 0, 0):
            lines.append(_line(reservation_id, service_period, kind, component, price, *due))
    return lines


def _charges(
    reservation_id: int, org_id: int, service_period: datetime, currency: str
) -> dict[tuple[str, Decimal], tuple[int, Decimal]]:
    """{(component, rate): (seconds, gigabytes)} of the month: compute and disk over the
    metered seconds, the start-up of the first run, the egress reported."""
    month = (service_period, next_month_start(service_period))
    reservation = Reservation.objects.filter(pk=reservation_id, org_id=org_id).first()
    if reservation is None:
        return {}
    usage = UsageRecord.objects.filter(
        reservation_id=reservation_id,
        org_id=org_id,
        currency=currency,
        interval_start__gte=month[0],
        interval_start__lt=month[1],
    )
    charges = {
        (ChargeComponent.COMPUTE.value, row["price_per_hour"]): (row["seconds"], Decimal(0))
        for row in usage.values("price_per_hour").annotate(seconds=Sum("seconds"))
    }
    if reservation.currency != currency:
        return charges
    seconds = sum(metered for metered, _ in charges.values())
    if seconds and reservation.disk_price_per_hour:
        charges[ChargeComponent.DISK.value, reservation.disk_price_per_hour] = (seconds, Decimal(0))
    first_run = reservation.runs.filter(
        number=1, started_at__gte=month[0], started_at__lt=month[1]
    ).first()
    if first_run and reservation.boot_seconds:
        key = (ChargeComponent.BOOT.value, first_run.price_per_hour)
        charges[key] = (reservation.boot_seconds, Decimal(0))
    sent = reservation.egress.filter(reported_at__gte=month[0], reported_at__lt=month[1])
    gigabytes = sent.aggregate(gb=Sum("gb"))["gb"]
    if gigabytes and reservation.egress_price_per_gb:
        charges[ChargeComponent.EGRESS.value, reservation.egress_price_per_gb] = (0, gigabytes)
    return charges


# How each component's line reads, for the month it bills.
_WHAT = {
    ChargeComponent.COMPUTE: "usage of",
    ChargeComponent.BOOT: "start-up in",
    ChargeComponent.DISK: "disk in",
    ChargeComponent.EGRESS: "egress in",
}


def _line(
    reservation_id: int,
    service_period: datetime,
    kind: str,
    component: str,
    price: Decimal,
    seconds: int,
    gigabytes: Decimal,
    amount: Decimal,
) -> InvoiceLine:
    """A line; bulk.py's _INSERT_CHANGED writes the same description in SQL."""
    what = _WHAT[component] if kind != InvoiceLineKind.ADJUSTMENT else f"late {_WHAT[component]}"
    if component == ChargeComponent.EGRESS:
        quantity = f"{gigabytes} GB at {price}/GB"
    else:
        quantity = f"{seconds} s at {price}/h"
    return InvoiceLine(
        reservation_id=reservation_id,
        kind=component if kind != InvoiceLineKind.ADJUSTMENT else kind,
        component=component,
        service_period_start=service_period,
        description=f"Reservation {reservation_id}, {what} {service_period:%Y-%m}: {quantity}",
        seconds=seconds,
        gigabytes=gigabytes,
        price_per_hour=price,
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
