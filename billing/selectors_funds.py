"""Funds reads: what an organization may still spend, and what it has spent this month.

Everything is per currency: prepaid credit, invoices and reservations in one currency never
offset another's. Each figure is one query; nothing is stored (docs/billing.md, "Funds and
budgets").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db.models import DecimalField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from accounts.models import Organization
from billing.models import Budget, Invoice, InvoiceLine, InvoiceStatus
from billing.periods import month_start
from billing.selectors import org_prepaid_credit
from common.money import round_amount
from marketplace.models import Reservation
from marketplace.models.reservations import ACTIVE_STATUSES

DEFAULT_CURRENCY = "USD"
ZERO = Decimal(0)
_MONEY = DecimalField(max_digits=16, decimal_places=2)


@dataclass(frozen=True)
class Balance:
    currency: str
    prepaid: Decimal
    credit_limit: Decimal
    unpaid: Decimal
    committed: Decimal

    @property
    def available(self) -> Decimal:
        return self.prepaid + self.credit_limit - self.unpaid - self.committed


def org_balance(*, org, currency: str = DEFAULT_CURRENCY) -> Balance:
    """Prepaid credit + the credit limit − what is owed on invoices − what reservations not
    yet ended may still cost. Rows written earlier in the caller's transaction count (the
    legs of one plan see each other)."""
    return Balance(
        currency=currency,
        prepaid=org_prepaid_credit(org=org, currency=currency),
        credit_limit=round_amount(settings.ORG_CREDIT_LIMIT, currency),
        unpaid=org_unpaid(org=org, currency=currency),
        committed=org_committed(org=org, currency=currency),
    )


def org_unpaid(*, org, currency: str) -> Decimal:
    """What is owed on finalised invoices not yet paid, and what the month's drafts have
    billed so far (before tax: a draft's tax is decided when it is finalised)."""
    owed = Q(status__in=[InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE])
    sums = Invoice.objects.filter(org=org, currency=currency).aggregate(
        due=Sum("amount_due", filter=owed),
        drafts=Sum("subtotal", filter=Q(status=InvoiceStatus.DRAFT)),
    )
    return (sums["due"] or ZERO) + (sums["drafts"] or ZERO)


def _committed_rows(*, org, currency: str, statuses) -> QuerySet[Reservation]:
    """The reservations with what each may still cost: its quoted total less what its invoice
    lines bill already (on drafts or issued invoices: counted in unpaid, or paid), never
    below zero. A reservation with no quoted total commits nothing."""
    billed = (
        InvoiceLine.objects.filter(reservation=OuterRef("pk"))
        .values("reservation")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    zero = Value(ZERO, output_field=_MONEY)
    remaining = Coalesce("quoted_total", zero) - Coalesce(Subquery(billed), zero)
    return Reservation.objects.filter(org=org, currency=currency, status__in=statuses).annotate(
        remaining=Greatest(remaining, zero, output_field=_MONEY)
    )


def org_committed(*, org, currency: str) -> Decimal:
    rows = _committed_rows(org=org, currency=currency, statuses=ACTIVE_STATUSES)
    return rows.aggregate(total=Sum("remaining"))["total"] or ZERO


def org_uncollectible_invoice(*, org) -> Invoice | None:
    """The oldest invoice the organization did not pay after every retry: while there is one,
    it may not start new reservations."""
    return (
        Invoice.objects.filter(org=org, status=InvoiceStatus.UNCOLLECTIBLE)
        .order_by("issued_at", "id")
        .first()
    )


# --- budgets -----------------------------------------------------------------------------


def budget_for_org(*, org) -> Budget | None:
    return Budget.objects.filter(org=org).first()


def org_month_invoiced(*, org, currency: str, now: datetime | None = None) -> Decimal:
    """What the organization's invoices of the current month bill before tax: its draft and
    those finalised already (void ones aside: voiding forgives)."""
    period = month_start(now or timezone.now())
    total = (
        Invoice.objects.filter(org=org, currency=currency, period_start=period)
        .exclude(status=InvoiceStatus.VOID)
        .aggregate(total=Sum("subtotal"))["total"]
    )
    return total or ZERO


def org_month_spend(*, org, currency: str, now: datetime | None = None) -> Decimal:
    """The month's spend as a new reservation sees it: invoiced so far, plus what the
    reservations not yet ended may still cost."""
    return org_month_invoiced(org=org, currency=currency, now=now) + org_committed(
        org=org, currency=currency
    )


def org_funds_notice(*, org, now: datetime | None = None) -> str:
    """The notice the organization's pages show about its money, or "": an uncollectible
    invoice first (it blocks reservations), then the month's budget alerts. One query."""
    period = month_start(now or timezone.now()).date()
    uncollectible = (
        Invoice.objects.filter(org=OuterRef("pk"), status=InvoiceStatus.UNCOLLECTIBLE)
        .order_by("issued_at", "id")
        .values("number")[:1]
    )
    row = (
        Organization.objects.filter(pk=org.pk)
        .values("budget__hard_stop", "budget__alerted_80_period", "budget__alerted_100_period")
        .annotate(uncollectible=Subquery(uncollectible))
        .first()
    )
    if row is None:
        return ""
    if row["uncollectible"]:
        return (
            f"Invoice {row['uncollectible']} is uncollectible — new reservations are blocked "
            "until it is paid."
        )
    if row["budget__alerted_100_period"] == period:
        if row["budget__hard_stop"]:
            return "Budget reached — new reservations blocked."
        return "Budget reached."
    if row["budget__alerted_80_period"] == period:
        return "Budget 80 % reached."
    return ""
