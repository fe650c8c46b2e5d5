"""Billing reads, always scoped to one organization."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Prefetch, QuerySet

from billing.models import Invoice, InvoiceLine
from common.api.pagination import Keyset

# Invoices are listed by period, newest first (the model's ordering), on every page and API.
NEWEST_PERIOD_FIRST = Keyset((("period_start", True), ("id", True)))


def invoices_for_org(*, org) -> QuerySet[Invoice]:
    return Invoice.objects.filter(org=org).prefetch_related(
        Prefetch("lines", InvoiceLine.objects.order_by("id"))
    )


def invoice_for_org(*, org, invoice_id: int) -> Invoice:
    return invoices_for_org(org=org).get(pk=invoice_id)


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
