"""Funds: whether an organization may make a reservation, and prepaid credit paying invoices.

Both take the organization's `FundsLock` row FOR UPDATE first, so that what they read of its
balance (prepaid credit, unpaid invoices, committed reservations: several queries) stays true
until they commit: two reservations of one organization, or a reservation and a
finalisation using its credit, take turns. The lock is always taken before any offer or
reservation row, so the order never deadlocks.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from billing.models import (
    AuditAction,
    FundsLock,
    Invoice,
    JournalEntry,
    JournalEntryKind,
)
from billing.selectors import org_prepaid_credit
from billing.selectors_funds import org_balance, org_uncollectible_invoice
from billing.services.audit import audit_record
from billing.services.budgets import budget_check_reservation
from billing.services.ledger import ledger_post_credit_applied, ledger_post_top_up, source_key
from billing.services.payments import invoice_mark_paid
from common.errors import DomainError

ZERO = Decimal(0)


def funds_lock(*, org_id: int) -> None:
    """Lock the organization's funds row until the caller's transaction ends."""
    FundsLock.objects.bulk_create([FundsLock(org_id=org_id)], ignore_conflicts=True)
    FundsLock.objects.select_for_update().get(org_id=org_id)


@transaction.atomic
def funds_check_reservation(*, org, currency: str, amount: Decimal | None) -> None:
    """Refuse a reservation of `amount` (its quoted total) in `currency`: while an invoice is
    uncollectible (`account_past_due`), when the available funds do not cover it
    (`insufficient_funds`), or when it would pass a hard-stop budget (`budget_exceeded`).
    Called in the reservation's transaction, before its capacity is taken; the lock is held
    until that transaction ends, so the next reservation counts this one as committed."""
    funds_lock(org_id=org.pk)
    past_due = org_uncollectible_invoice(org=org)
    if past_due is not None:
        raise DomainError(
            "account_past_due",
            f"Invoice {past_due.number} is uncollectible: new reservations are blocked "
            "until it is paid.",
            invoice=past_due.pk,
        )
    amount = amount or ZERO
    available = org_balance(org=org, currency=currency).available
    if available < amount:
        raise DomainError(
            "insufficient_funds",
            f"This reservation costs up to {amount} {currency}; the organization has "
            f"{available} {currency} available. Top up prepaid credit or pay open invoices.",
            available=str(available),
            required=str(amount),
            currency=currency,
        )
    budget_check_reservation(org=org, currency=currency, amount=amount)


def prepaid_credit_apply(invoice: Invoice) -> Decimal:
    """At finalisation, in its transaction: pay what the organization's prepaid credit in the
    invoice's currency covers of `amount_due`, posted to the ledger (`credit_applied`); an
    invoice left owing nothing is paid at once. Returns the credit applied (0 when there is
    none, or when it was applied before)."""
    if invoice.amount_due <= 0:
        return ZERO
    key = source_key(JournalEntryKind.CREDIT_APPLIED, invoice.pk)
    if JournalEntry.objects.filter(source_key=key).exists():
        return ZERO
    funds_lock(org_id=invoice.org_id)
    prepaid = org_prepaid_credit(org=invoice.org, currency=invoice.currency)
    applied = min(prepaid, invoice.amount_due)
    if applied <= 0:
        return ZERO
    ledger_post_credit_applied(invoice=invoice, amount=applied)
    invoice.amount_due -= applied
    if invoice.amount_due == 0:
        invoice_mark_paid(invoice, now=timezone.now(), by="prepaid_credit", amount=applied)
    invoice.save(
        update_fields=["amount_due", "status", "paid_at", "next_collection_at", "updated_at"]
    )
    return applied


DEMO_CREDIT = Decimal("25.00")


@transaction.atomic
def demo_credit_grant(*, org, amount: Decimal = DEMO_CREDIT, currency: str = "USD") -> bool:
    """The demo organization's prepaid credit (seed_demo), posted as a top-up once per
    organization, whatever the number of runs. Returns whether it was posted now."""
    key = f"demo-seed-{org.pk}"
    if JournalEntry.objects.filter(source_key=source_key(JournalEntryKind.TOP_UP, key)).exists():
        return False
    ledger_post_top_up(org=org, amount=amount, currency=currency, source_id=key,
                       memo="Demo prepaid credit")  # fmt: skip
    audit_record(
        org=org,
        action=AuditAction.TOP_UP_CREDITED,
        subject=f"top_up:{key}",
        detail={"amount": str(amount), "currency": currency, "by": "seed_demo"},
    )
    return True
