"""The double-entry ledger: what each billing event posts.

Every posting is one `JournalEntry` whose lines' debits equal their credits (checked here,
and by the database at commit). The ledger is append-only: a mistake or a reversal is a new
entry. Each entry has a source key ("invoice:42"), so posting the same thing twice posts it
once. Balances are sums over the lines (billing.selectors), never stored.

| event | debit | credit |
|---|---|---|
| invoice finalised | accounts_receivable(org): total | tax_payable: tax; per provider, provider_payable: its share net of the platform fee; platform_revenue: the fees |
| credit note | the reverse of the invoice's, for what it credits | accounts_receivable(org): its total |
| invoice voided | the exact reverse of the invoice's entry | |
| payment | cash | accounts_receivable(org) |
| top-up | cash | prepaid_credit(org) |
| prepaid credit applied to an invoice at finalisation | prepaid_credit(org) | accounts_receivable(org) |
| payout (a provider statement paid) | provider_payable(provider): the statement's net | cash |
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import CharField, Exists, OuterRef, QuerySet, Sum, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from billing.models import (
    CreditNote,
    CreditNoteLine,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    JournalEntry,
    JournalEntryKind,
    JournalLine,
    LedgerAccount,
)
from common.money import round_amount

ZERO = Decimal(0)


@dataclass(frozen=True)
class Posting:
    """One side of an entry, signed: a positive amount is a debit, a negative one a credit."""

    account: str
    amount: Decimal
    org_id: int | None = None
    provider_id: int | None = None

    def reversed(self) -> Posting:
        return Posting(self.account, -self.amount, self.org_id, self.provider_id)


def source_key(kind: str, source_id: int | str) -> str:
    return f"{kind}:{source_id}"


def ledger_post_invoice(invoice: Invoice) -> JournalEntry:
    """Post a finalised invoice: the organization owes its total; the tax is owed to the tax
    authority; each provider is owed its lines net of the platform fee, the rest is revenue."""
    shares = _provider_shares(
        InvoiceLine.objects.filter(invoice=invoice), "reservation__offer__provider_id"
    )
    postings = [
        Posting(LedgerAccount.ACCOUNTS_RECEIVABLE, invoice.total, org_id=invoice.org_id),
        Posting(LedgerAccount.TAX_PAYABLE, -invoice.tax),
        *_split(shares, invoice.total - invoice.tax, invoice.currency, sign=-1),
    ]
    return _post(
        kind=JournalEntryKind.INVOICE,
        source_key=source_key(JournalEntryKind.INVOICE, invoice.pk),
        currency=invoice.currency,
        posted_at=invoice.issued_at,
        memo=f"Invoice {invoice.number}",
        postings=postings,
    )


def ledger_post_credit_note(credit_note: CreditNote) -> JournalEntry:
    """Post a credit note: the invoice's entry reversed for what the note credits, line by
    line, so each provider gives back the share of its own lines credited."""
    shares = _provider_shares(
        CreditNoteLine.objects.filter(credit_note=credit_note),
        "invoice_line__reservation__offer__provider_id",
    )
    postings = [
        Posting(LedgerAccount.ACCOUNTS_RECEIVABLE, -credit_note.total, org_id=credit_note.org_id),
        Posting(LedgerAccount.TAX_PAYABLE, credit_note.tax),
        *_split(shares, credit_note.total - credit_note.tax, credit_note.currency, sign=1),
    ]
    return _post(
        kind=JournalEntryKind.CREDIT_NOTE,
        source_key=source_key(JournalEntryKind.CREDIT_NOTE, credit_note.pk),
        currency=credit_note.currency,
        posted_at=credit_note.issued_at,
        memo=f"Credit note {credit_note.number} on {credit_note.invoice.number}",
        postings=postings,
    )


def ledger_post_void(invoice: Invoice, *, now: datetime | None = None) -> JournalEntry:
    """Post the exact reverse of the invoice's entry (posting it first if it never was)."""
    original = ledger_post_invoice(invoice)
    postings = [
        Posting(line.account, line.debit - line.credit, line.org_id, line.provider_id).reversed()
        for line in original.lines.all()
    ]
    return _post(
        kind=JournalEntryKind.VOID,
        source_key=source_key(JournalEntryKind.VOID, invoice.pk),
        currency=invoice.currency,
        posted_at=now or timezone.now(),
        memo=f"Void of invoice {invoice.number}",
        postings=postings,
    )


def ledger_post_payment(
    *,
    org,
    amount: Decimal,
    currency: str,
    source_id: int | str,
    posted_at: datetime | None = None,
    memo: str = "",
) -> JournalEntry:
    """Money received against invoices (`source_id`: the payment's id, e.g. Stripe's)."""
    return _post_received(JournalEntryKind.PAYMENT, LedgerAccount.ACCOUNTS_RECEIVABLE,
                          org, amount, currency, source_id, posted_at, memo)  # fmt: skip


def ledger_post_top_up(
    *,
    org,
    amount: Decimal,
    currency: str,
    source_id: int | str,
    posted_at: datetime | None = None,
    memo: str = "",
) -> JournalEntry:
    """Money received in advance: the platform owes it to the organization as prepaid credit."""
    return _post_received(JournalEntryKind.TOP_UP, LedgerAccount.PREPAID_CREDIT,
                          org, amount, currency, source_id, posted_at, memo)  # fmt: skip


def ledger_post_credit_applied(*, invoice: Invoice, amount: Decimal) -> JournalEntry:
    """Prepaid credit used to pay (part of) a finalised invoice: the platform owes the
    organization that much less, and the organization owes that much less on the invoice.
    Posted once per invoice (`credit_applied:<invoice id>`)."""
    return _post(
        kind=JournalEntryKind.CREDIT_APPLIED,
        source_key=source_key(JournalEntryKind.CREDIT_APPLIED, invoice.pk),
        currency=invoice.currency,
        posted_at=invoice.issued_at or timezone.now(),
        memo=f"Prepaid credit applied to invoice {invoice.number}",
        postings=[
            Posting(LedgerAccount.PREPAID_CREDIT, amount, org_id=invoice.org_id),
            Posting(LedgerAccount.ACCOUNTS_RECEIVABLE, -amount, org_id=invoice.org_id),
        ],
    )


def ledger_post_refund(refund) -> JournalEntry:
    """A credit note's money sent back to the card that paid: the platform no longer owes
    the organization what the note took back, and the money left its Stripe balance."""
    note = refund.credit_note
    return _post(
        kind=JournalEntryKind.REFUND,
        source_key=source_key(JournalEntryKind.REFUND, refund.pk),
        currency=refund.currency,
        posted_at=timezone.now(),
        memo=f"Refund for credit note {note.number} ({refund.stripe_refund})",
        postings=[
            Posting(LedgerAccount.ACCOUNTS_RECEIVABLE, refund.amount, org_id=note.org_id),
            Posting(LedgerAccount.CASH, -refund.amount),
        ],
    )


def ledger_post_credit_returned(
    *, org_id: int, amount: Decimal, currency: str, source_id: str, memo: str
) -> JournalEntry:
    """Money the organization paid and is owed back (a credit note on what it paid from its
    prepaid credit, a charge that found the invoice already settled) kept as prepaid
    credit: spent on its next reservations and invoices."""
    return _post(
        kind=JournalEntryKind.CREDIT_RETURNED,
        source_key=source_key(JournalEntryKind.CREDIT_RETURNED, source_id),
        currency=currency,
        posted_at=timezone.now(),
        memo=memo,
        postings=[
            Posting(LedgerAccount.ACCOUNTS_RECEIVABLE, amount, org_id=org_id),
            Posting(LedgerAccount.PREPAID_CREDIT, -amount, org_id=org_id),
        ],
    )


def ledger_post_payout(statement) -> JournalEntry:
    """A provider statement paid by a Connect transfer: the platform owes the provider that
    much less, and the money left its Stripe balance."""
    return _post(
        kind=JournalEntryKind.PAYOUT,
        source_key=source_key(JournalEntryKind.PAYOUT, statement.pk),
        currency=statement.currency,
        posted_at=statement.paid_at,
        memo=f"Payout of statement {statement.pk} ({statement.transfer})",
        postings=[
            Posting(
                LedgerAccount.PROVIDER_PAYABLE, statement.net, provider_id=statement.provider_id
            ),
            Posting(LedgerAccount.CASH, -statement.net),
        ],
    )


def _post_received(kind, account, org, amount, currency, source_id, posted_at, memo):
    """Cash in, credited to the organization's `account`."""
    return _post(
        kind=kind,
        source_key=source_key(kind, source_id),
        currency=currency,
        posted_at=posted_at or timezone.now(),
        memo=memo,
        postings=[
            Posting(LedgerAccount.CASH, amount),
            Posting(account, -amount, org_id=org.pk),
        ],
    )


def ledger_backfill() -> dict[str, int]:
    """Post what is missing from the ledger: the entry of every finalised invoice, void and
    credit note that has none (those from before the ledger existed), each through its
    posting function above, in its own transaction. Returns how many of each it posted; a
    second run posts nothing."""
    posted = {kind: 0 for kind in ("invoice", "void", "credit_note")}
    finalised = Invoice.objects.exclude(status=InvoiceStatus.DRAFT)
    for invoice in _without_entry(finalised, JournalEntryKind.INVOICE):
        with transaction.atomic():
            ledger_post_invoice(invoice)
        posted["invoice"] += 1
    voided = Invoice.objects.filter(status=InvoiceStatus.VOID)
    for invoice in _without_entry(voided, JournalEntryKind.VOID):
        with transaction.atomic():
            # Nothing changes a void invoice, so its last change is when it was voided.
            ledger_post_void(invoice, now=invoice.updated_at)
        posted["void"] += 1
    notes = CreditNote.objects.select_related("invoice")
    for note in _without_entry(notes, JournalEntryKind.CREDIT_NOTE):
        with transaction.atomic():
            ledger_post_credit_note(note)
        posted["credit_note"] += 1
    return posted


def _without_entry(queryset: QuerySet, kind: str) -> list:
    """The rows of `queryset` with no entry of `kind` under their source key, in id order."""
    key = Concat(Value(f"{kind}:"), Cast("pk", CharField()))
    entries = JournalEntry.objects.filter(source_key=OuterRef("source"))
    return list(queryset.annotate(source=key).filter(~Exists(entries)).order_by("pk"))


def _provider_shares(lines, provider_path: str) -> dict[int, Decimal]:
    """The lines' amounts per provider, netted (an adjustment taking seconds back is negative)."""
    rows = lines.values(provider_path).annotate(amount=Sum("amount")).order_by(provider_path)
    return {row[provider_path]: row["amount"] for row in rows}


def platform_fee(share: Decimal, currency: str, percent: Decimal) -> Decimal:
    """The platform's fee on a provider's share, rounded once: the one rule of the invoice's
    entry (below) and of the provider statements (services/payouts.py), so they agree."""
    return round_amount(share * percent / 100, currency)


def _split(
    shares: dict[int, Decimal], net_of_tax: Decimal, currency: str, *, sign: int
) -> list[Posting]:
    """Each provider's share less the platform fee (rounded once per provider) to
    provider_payable, and the rest of `net_of_tax` to platform_revenue, so that the entry
    balances to the cent. `sign` -1 credits (an invoice), 1 debits (a credit note)."""
    percent = settings.PLATFORM_FEE_PERCENT
    postings = []
    payable_total = ZERO
    for provider_id, share in shares.items():
        payable = share - platform_fee(share, currency, percent)
        payable_total += payable
        postings.append(
            Posting(LedgerAccount.PROVIDER_PAYABLE, sign * payable, provider_id=provider_id)
        )
    postings.append(Posting(LedgerAccount.PLATFORM_REVENUE, sign * (net_of_tax - payable_total)))
    return postings


def _post(
    *,
    kind: str,
    source_key: str,
    currency: str,
    posted_at: datetime,
    memo: str,
    postings: list[Posting],
) -> JournalEntry:
    """The entry of `source_key`: posted now from `postings`, or the one posted before."""
    existing = JournalEntry.objects.filter(source_key=source_key).first()
    if existing is not None:
        return existing
    totals: dict[tuple, Decimal] = defaultdict(Decimal)
    for posting in postings:
        totals[(posting.account, posting.org_id, posting.provider_id)] += posting.amount
    lines = [
        JournalLine(
            account=account,
            org_id=org_id,
            provider_id=provider_id,
            debit=max(amount, ZERO),
            credit=max(-amount, ZERO),
        )
        for (account, org_id, provider_id), amount in totals.items()
        if amount != 0
    ]
    debits = sum((line.debit for line in lines), start=ZERO)
    credits = sum((line.credit for line in lines), start=ZERO)
    if debits != credits:
        raise ValueError(f"{source_key} does not balance: debits {debits}, credits {credits}")
    try:
        with transaction.atomic():
            entry = JournalEntry.objects.create(
                kind=kind, source_key=source_key, posted_at=posted_at, memo=memo, currency=currency
            )
            for line in lines:
                line.entry = entry
            JournalLine.objects.bulk_create(lines)
    except IntegrityError:
        # Posted meanwhile by another transaction (the unique source key): that one stands.
        existing = JournalEntry.objects.filter(source_key=source_key).first()
        if existing is None:
            raise
        return existing
    return entry
