"""Billing reads, always scoped to one organization (the ledger's balances: to one party)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import F, Max, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Least
from django.utils import timezone

from billing.models import (
    BillingProfile,
    CreditNote,
    Invoice,
    InvoiceLine,
    JournalLine,
    LedgerAccount,
    UsageRecord,
)
from common.api.pagination import Keyset
from common.errors import DomainError
from marketplace.models import ReservationRun

# Invoices are listed by period, newest first (the model's ordering), on every page and API.
NEWEST_PERIOD_FIRST = Keyset((("period_start", True), ("id", True)))
# Runs that ended longer ago than this are not looked at again: the sweep a minute after each
# end had many chances, and the bound keeps the query on the runs' end index.
UNMETERED_ENDS_LOOKBACK = timedelta(days=2)


def invoices_for_org(*, org) -> QuerySet[Invoice]:
    return Invoice.objects.filter(org=org).prefetch_related(
        Prefetch("lines", InvoiceLine.objects.order_by("id")),
        Prefetch("credit_notes", CreditNote.objects.order_by("id")),
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


def billing_profile_for_org(*, org) -> BillingProfile:
    """The organization's billing profile; `not_found` until one is put."""
    profile = BillingProfile.objects.filter(org=org).first()
    if profile is None:
        raise DomainError(
            "not_found", f"Organization {org.pk} has no billing profile yet: PUT one first."
        )
    return profile


def reservations_with_unmetered_run_ends() -> QuerySet[int]:
    """Ids of reservations with a run that ended (within the lookback) after its metered usage
    stops (its end, or the reserved end: usage.billable_end): the usage task queued at its
    end was lost. A run with no usage counts when it lasted
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
        .annotate(
            metered_to=Subquery(metered_to),
            billable_end=Least("ended_at", "reservation__reserved_until"),
        )
        .filter(billable_end__gt=F("started_at"))
        .filter(Q(metered_to__isnull=True) | Q(metered_to__lt=F("billable_end")))
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


def credit_notes_for_org(*, org) -> QuerySet[CreditNote]:
    return (
        CreditNote.objects.filter(org=org)
        .select_related("invoice", "org")
        .prefetch_related("lines__invoice_line")
    )


def credit_notes_listed(*, org) -> QuerySet[CreditNote]:
    """The organization's credit notes with their invoice, without their lines (the page)."""
    return CreditNote.objects.filter(org=org).select_related("invoice")


def credit_note_for_org(*, org, credit_note_id: int) -> CreditNote:
    return credit_notes_for_org(org=org).get(pk=credit_note_id)


# --- ledger balances: sums over the journal, never stored -----------------------------------


def _balance(lines: QuerySet[JournalLine], *, credit_normal: bool) -> Decimal:
    sums = lines.aggregate(debit=Sum("debit"), credit=Sum("credit"))
    debit, credit = sums["debit"] or Decimal(0), sums["credit"] or Decimal(0)
    return credit - debit if credit_normal else debit - credit


def org_receivable(*, org, currency: str) -> Decimal:
    """What the organization owes on its invoices (negative: what it is owed back)."""
    lines = JournalLine.objects.filter(
        account=LedgerAccount.ACCOUNTS_RECEIVABLE, org=org, entry__currency=currency
    )
    return _balance(lines, credit_normal=False)


def org_prepaid_credit(*, org, currency: str) -> Decimal:
    """What the platform holds for the organization, paid in advance (a liability)."""
    lines = JournalLine.objects.filter(
        account=LedgerAccount.PREPAID_CREDIT, org=org, entry__currency=currency
    )
    return _balance(lines, credit_normal=True)


def provider_payable(*, provider, currency: str) -> Decimal:
    """What the platform owes the provider, net of its fee (a liability)."""
    lines = JournalLine.objects.filter(
        account=LedgerAccount.PROVIDER_PAYABLE, provider=provider, entry__currency=currency
    )
    return _balance(lines, credit_normal=True)
