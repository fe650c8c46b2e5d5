"""Billing reads, always scoped to one organization."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import F, Max, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.utils import timezone

from billing.models import Invoice, InvoiceLine, UsageRecord
from common.api.pagination import Keyset
from marketplace.models import ReservationRun

# Invoices are listed by period, newest first (the model's ordering), on every page and API.
NEWEST_PERIOD_FIRST = Keyset((("period_start", True), ("id", True)))
# Runs that ended longer ago than this are not looked at again: the sweep a minute after each
# end had many chances, and the bound keeps the query on the runs' end index.
UNMETERED_ENDS_LOOKBACK = timedelta(days=2)


def invoices_for_org(*, org) -> QuerySet[Invoice]:
    return Invoice.objects.filter(org=org).prefetch_related(
        Prefetch("lines", InvoiceLine.objects.order_by("id"))
    )


def invoices_filtered(
    *, org, period_start: datetime | None = None, status: str = ""
) -> QuerySet[Invoice]:
    """The organization's invoices without their lines (the invoices page), optionally of
    one month and of one status."""
    invoices = Invoice.objects.filter(org=org)
    if period_start is not None:
        invoices = invoices.filter(period_start=period_start)
    return invoices.filter(status=status) if status else invoices


def invoice_for_org(*, org, invoice_id: int) -> Invoice:
    return invoices_for_org(org=org).get(pk=invoice_id)


def reservations_with_unmetered_run_ends() -> QuerySet[int]:
    """Ids of reservations with a run that ended (within the lookback) after its metered usage
    stops: the usage task queued at its end was lost. A run with no usage counts when it lasted
    at least a second. One query: each run's metered end is a subquery over its usage."""
    metered_to = (
        UsageRecord.objects.filter(run=OuterRef("pk"))
        .values("run")
        .annotate(end=Max("interval_end"))
        .values("end")
    )
    return (
        ReservationRun.objects.filter(
            ended_at__gte=timezone.now() - UNMETERED_ENDS_LOOKBACK,
            ended_at__gt=F("started_at"),
        )
        .annotate(metered_to=Subquery(metered_to))
        .filter(Q(metered_to__isnull=True) | Q(metered_to__lt=F("ended_at")))
        .values_list("reservation_id", flat=True)
        .distinct()
    )


def invoices_of_period(*, org, period_start: datetime) -> QuerySet[Invoice]:
    """The organization's invoices of one month (drafts included), oldest first, with their
    lines and what the FOCUS export names of each line's reservation."""
    lines = InvoiceLine.objects.select_related("reservation__offer__provider").order_by("id")
    return (
        Invoice.objects.filter(org=org, period_start=period_start)
        .select_related("org")
        .prefetch_related(Prefetch("lines", lines))
        .order_by("currency", "id")
    )
