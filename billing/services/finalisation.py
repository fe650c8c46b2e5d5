"""Finalising invoices: a gapless number, an issue date, and no change ever after.

A draft is finalised by `invoice_finalize` (the API, for one draft now) or by
`billing_period_close` (the command and beat, for every draft of a month that has ended).
Each finalisation is one transaction that takes the next number of its year from a counter
row locked FOR UPDATE: numbers are given in commit order, and a finalisation that fails
gives its number back. The tax is decided then, from the buyer's billing profile
(`billing.tax`), and the invoice keeps the decision and both parties' details as they were.
Running either twice finalises nothing twice: a draft that is no
longer a draft is skipped (close) or refused (`invoice_not_draft`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing.models import (
    BillingProfile,
    Invoice,
    InvoiceNumberCounter,
    InvoiceStatus,
    address_lines,
)
from billing.periods import month_start, next_month_start
from billing.services.bulk import invoice_drafts_sync_period
from billing.services.funds import prepaid_credit_apply
from billing.services.ledger import ledger_post_invoice
from billing.services.payments import invoice_collection_schedule
from billing.tax import tax_decision
from common.errors import DomainError

INVOICE_SERIES = "GM"


@transaction.atomic
def invoice_finalize(*, invoice_id: int, now: datetime | None = None) -> Invoice:
    """Number and freeze a draft now; usage after this goes to a new draft."""
    now = now or timezone.now()
    invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
    if invoice.status != InvoiceStatus.DRAFT:
        raise DomainError(
            "invoice_not_draft",
            f"Invoice {invoice.number} is {invoice.status}: only a draft can be finalised.",
            status=invoice.status,
        )
    invoice.number = _next_number(now.year)
    invoice.status = InvoiceStatus.OPEN
    invoice.issued_at = now
    invoice.due_at = now + timedelta(days=settings.INVOICE_DUE_DAYS)
    _apply_tax(invoice)
    invoice.total = invoice.amount_due = invoice.subtotal + invoice.tax
    invoice.save()
    ledger_post_invoice(invoice)
    prepaid_credit_apply(invoice)
    invoice_collection_schedule(invoice)
    return invoice


def _apply_tax(invoice: Invoice) -> None:
    """Decide the tax from the buyer's billing profile as it is now, rounded once on the
    subtotal, and keep the decision and both parties on the invoice (frozen with it)."""
    profile = BillingProfile.objects.filter(org_id=invoice.org_id).first()
    decision = tax_decision(seller_country=settings.PLATFORM_COUNTRY, buyer=profile)
    invoice.tax = decision.tax_on(invoice.subtotal, invoice.currency)
    invoice.tax_rate, invoice.tax_note = decision.rate, decision.note
    invoice.reverse_charge = decision.reverse_charge
    invoice_parties_fill(invoice=invoice, profile=profile)


def invoice_parties_fill(*, invoice: Invoice, profile: BillingProfile | None) -> None:
    """Set the invoice's seller fields from the settings and its buyer fields from `profile`
    (or, with none, the organization's name) as they are now. Not saved: finalisation saves
    them once; a draft's PDF shows them as they would be."""
    invoice.seller_name = settings.PLATFORM_LEGAL_NAME
    invoice.seller_address = "\n".join(address_lines(settings.PLATFORM_ADDRESS))
    invoice.seller_country = settings.PLATFORM_COUNTRY
    invoice.seller_vat_id = settings.PLATFORM_VAT_ID
    if profile is None:
        invoice.buyer_name = invoice.org.name
        return
    invoice.buyer_name = profile.legal_name
    invoice.buyer_address = "\n".join(profile.address_lines)
    invoice.buyer_country, invoice.buyer_vat_id = profile.country, profile.vat_id
    invoice.buyer_email = profile.email


def _next_number(year: int, series: str = INVOICE_SERIES) -> str:
    """The next number of a series (`GM` invoices, `CN` credit notes) in `year`, from its
    counter row locked FOR UPDATE until the caller's transaction ends: gapless."""
    InvoiceNumberCounter.objects.bulk_create(
        [InvoiceNumberCounter(series=series, year=year)], ignore_conflicts=True
    )
    counter = InvoiceNumberCounter.objects.select_for_update().get(series=series, year=year)
    counter.last += 1
    counter.save(update_fields=["last"])
    return f"{series}-{year}-{counter.last:06d}"


def billing_period_close(*, period: datetime, now: datetime | None = None) -> list[Invoice]:
    """Finalise every organization's draft of the month starting at `period`, which must
    have ended. Drafts with nothing on them are dropped, not numbered. Returns the invoices
    this run finalised (none when run again)."""
    now = now or timezone.now()
    period = month_start(period)
    if now < next_month_start(period):
        raise DomainError(
            "period_not_ended",
            f"The period {period:%Y-%m} has not ended yet: it ends {next_month_start(period):%Y-%m-%d}.",
        )
    # Every draft of the month first carries every reservation's lines, set-based: a meter
    # task lost or a crash between metering and billing is caught here, before numbering.
    invoice_drafts_sync_period(period=period, now=now)
    finalised = []
    drafts = Invoice.objects.filter(period_start=period, status=InvoiceStatus.DRAFT)
    for invoice_id in drafts.order_by("org_id", "currency", "id").values_list("pk", flat=True):
        invoice = _close_one(invoice_id, now)
        if invoice is not None:
            finalised.append(invoice)
    return finalised


@transaction.atomic
def _close_one(invoice_id: int, now: datetime) -> Invoice | None:
    invoice = (
        Invoice.objects.select_for_update()
        .filter(pk=invoice_id, status=InvoiceStatus.DRAFT)
        .first()
    )
    if invoice is None:
        return None  # finalised meanwhile (the API, another close)
    if not invoice.lines.exists():
        invoice.delete()
        return None
    return invoice_finalize(invoice_id=invoice_id, now=now)


def billing_periods_due(*, now: datetime | None = None) -> list[datetime]:
    """Months whose drafts may be closed now: ended at least BILLING_GRACE_SECONDS ago, so
    that the last minutes of usage are metered first."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.BILLING_GRACE_SECONDS)
    periods = (
        Invoice.objects.filter(status=InvoiceStatus.DRAFT, period_end__lte=cutoff)
        .values_list("period_start", flat=True)
        .distinct()
    )
    return sorted(periods)
