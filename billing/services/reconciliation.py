"""Reconciliation: the invoices, credit notes, ledger and usage agree with one another.

Each check is a few grouped queries, whatever the number of rows, and reports every
disagreement it finds as a `Mismatch` (an empty list: all is well):

1. `invoice_totals`: every finalised invoice (open, paid, uncollectible, void) has
   Σ lines = subtotal and subtotal + tax = total.
2. `posted`: every finalised invoice has exactly one `invoice` entry whose receivable
   (debit − credit) is its total; a void one also exactly one `void` entry of −total; every
   credit note exactly one `credit_note` entry of −total.
3. `entry_balances`: every entry's debits equal its credits.
4. `receivable`: per organization and currency, the ledger's receivable equals the totals of
   its finalised invoices that are not void, less its credit notes, payments and the
   prepaid credit applied to them.
5. `usage`: per reservation and month of usage, the seconds of its compute lines (late ones,
   kind `adjustment`, included) equal its metered seconds; and `egress`: the GB of its
   egress lines equal what its provider reported (at a rate above zero). Drafts count (they bill the month so far), and so do
   void invoices: voiding forgives usage, whose lines still count as billed so that it is
   not billed again.
6. `payouts`: every paid provider statement has exactly one `payout` entry whose
   provider_payable debit is its net, and every payout entry is of a paid statement.
7. `provider_payable`: per provider and currency, the ledger's provider_payable equals what
   it earned and was not paid out, computed from the invoices, credit notes and statements:
   the net of every statement line, plus the share net of the fee (rounded once per invoice
   or credit note, as the ledger does, at today's PLATFORM_FEE_PERCENT) of the finalised,
   not void, invoices' lines not on a statement, less that of the credit note lines not on
   one, less the nets of the paid statements. (Changing the fee percent while invoices wait
   for their statement shows here: they were posted at the old one.)

8. `money_moves`: every charge, top-up and refund Stripe confirmed (billing.services.
   payments) has exactly one entry of its amount, and no card payment of an invoice is
   posted without its succeeded attempt.

With a period (a month), checks 1, 2 and 5 (usage and egress) look at that month's invoices
and usage; 3, 4, 6, 7 and 8 are over the whole ledger, as balances are.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.conf import settings
from django.db.models import F, Q, Sum
from django.db.models.functions import TruncMonth

from billing.models import (
    ChargeComponent,
    ChargeStatus,
    CreditNote,
    CreditNoteLine,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    JournalEntry,
    JournalEntryKind,
    JournalLine,
    LedgerAccount,
    PaymentAttempt,
    ProviderStatement,
    Refund,
    StatementLine,
    StatementStatus,
    TopUp,
    UsageRecord,
)
from billing.periods import next_month_start
from billing.services.ledger import platform_fee, source_key
from marketplace.models import EgressReport

ZERO = Decimal(0)
FINALISED = (
    InvoiceStatus.OPEN,
    InvoiceStatus.PAID,
    InvoiceStatus.UNCOLLECTIBLE,
    InvoiceStatus.VOID,
)


@dataclass(frozen=True)
class Mismatch:
    check: str
    subject: str
    expected: object
    found: object

    def __str__(self) -> str:
        return f"[{self.check}] {self.subject}: expected {self.expected}, found {self.found}"


def billing_reconcile(*, period: datetime | None = None) -> list[Mismatch]:
    invoices = Invoice.objects.filter(status__in=FINALISED)
    credit_notes = CreditNote.objects.all()
    usage = UsageRecord.objects.all()
    egress = EgressReport.objects.filter(reservation__egress_price_per_gb__gt=0)
    lines = InvoiceLine.objects.all()
    if period is not None:
        invoices = invoices.filter(period_start=period)
        credit_notes = credit_notes.filter(invoice__period_start=period)
        month = Q(interval_start__gte=period, interval_start__lt=next_month_start(period))
        usage = usage.filter(month)
        egress = egress.filter(reported_at__gte=period, reported_at__lt=next_month_start(period))
        lines = lines.filter(service_period_start=period)
    return [
        *_invoice_totals(invoices),
        *_posted(invoices, credit_notes),
        *_entry_balances(),
        *_receivables(),
        *_usage(usage, lines),
        *_egress(egress, lines),
        *_payouts(),
        *_provider_payables(),
        *_money_moves(),
    ]


def _invoice_totals(invoices) -> list[Mismatch]:
    found = []
    rows = invoices.annotate(lines_sum=Sum("lines__amount")).values_list(
        "number", "subtotal", "tax", "total", "lines_sum"
    )
    for number, subtotal, tax, total, lines_sum in rows:
        if (lines_sum or ZERO) != subtotal:
            found.append(Mismatch("invoice_totals", f"{number} lines", subtotal, lines_sum))
        if subtotal + tax != total:
            found.append(Mismatch("invoice_totals", f"{number} total", subtotal + tax, total))
    return found


def _receivable_by_source(kinds: tuple[str, ...]) -> dict[str, list[Decimal]]:
    """Per source key, the receivable movement of each of its entries (several would be a
    fault; a unique key makes it impossible, but it is what is checked)."""
    rows = (
        JournalEntry.objects.filter(kind__in=kinds)
        .annotate(
            debit=Sum("lines__debit", filter=Q(lines__account=LedgerAccount.ACCOUNTS_RECEIVABLE)),
            credit=Sum("lines__credit", filter=Q(lines__account=LedgerAccount.ACCOUNTS_RECEIVABLE)),
        )
        .values_list("source_key", "debit", "credit")
    )
    movements: dict[str, list[Decimal]] = defaultdict(list)
    for key, debit, credit in rows:
        movements[key].append((debit or ZERO) - (credit or ZERO))
    return movements


def _posted(invoices, credit_notes) -> list[Mismatch]:
    movements = _receivable_by_source(
        (JournalEntryKind.INVOICE, JournalEntryKind.VOID, JournalEntryKind.CREDIT_NOTE)
    )
    expected: list[tuple[str, str, Decimal]] = []
    for pk, number, status, total in invoices.values_list("pk", "number", "status", "total"):
        expected.append((source_key(JournalEntryKind.INVOICE, pk), number, total))
        if status == InvoiceStatus.VOID:
            expected.append((source_key(JournalEntryKind.VOID, pk), f"void of {number}", -total))
    for pk, number, total in credit_notes.values_list("pk", "number", "total"):
        expected.append((source_key(JournalEntryKind.CREDIT_NOTE, pk), number, -total))
    found = []
    for key, subject, amount in expected:
        posted = movements.get(key, [])
        if posted != [amount]:
            found.append(Mismatch("posted", f"{subject} ({key}) receivable", [amount], posted))
    return found


def _entry_balances() -> list[Mismatch]:
    rows = (
        JournalLine.objects.values("entry__source_key")
        .annotate(debit=Sum("debit"), credit=Sum("credit"))
        .exclude(debit=F("credit"))
        .values_list("entry__source_key", "debit", "credit")
    )
    return [Mismatch("entry_balances", key, debit, credit) for key, debit, credit in rows]


def _receivables() -> list[Mismatch]:
    expected: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    owed = (
        Invoice.objects.filter(status__in=FINALISED)
        .exclude(status=InvoiceStatus.VOID)
        .values_list("org_id", "currency")
        .annotate(total=Sum("total"))
    )
    for org_id, currency, total in owed:
        expected[(org_id, currency)] += total
    credited = CreditNote.objects.values_list("org_id", "currency").annotate(total=Sum("total"))
    for org_id, currency, total in credited:
        expected[(org_id, currency)] -= total
    # Paid in money, or with prepaid credit at finalisation; given back by a refund, or as
    # prepaid credit (these debit the receivable: negative here).
    paid = (
        JournalLine.objects.filter(
            entry__kind__in=(
                JournalEntryKind.PAYMENT,
                JournalEntryKind.CREDIT_APPLIED,
                JournalEntryKind.REFUND,
                JournalEntryKind.CREDIT_RETURNED,
            ),
            account=LedgerAccount.ACCOUNTS_RECEIVABLE,
        )
        .values_list("org_id", "entry__currency")
        .annotate(total=Sum("credit") - Sum("debit"))
    )
    for org_id, currency, total in paid:
        expected[(org_id, currency)] -= total
    ledger = dict(
        ((org_id, currency), debit - credit)
        for org_id, currency, debit, credit in JournalLine.objects.filter(
            account=LedgerAccount.ACCOUNTS_RECEIVABLE
        )
        .values_list("org_id", "entry__currency")
        .annotate(debit=Sum("debit"), credit=Sum("credit"))
    )
    found = []
    for org_id, currency in sorted(set(expected) | set(ledger)):
        want, have = expected.get((org_id, currency), ZERO), ledger.get((org_id, currency), ZERO)
        if want != have:
            found.append(Mismatch("receivable", f"org {org_id} {currency}", want, have))
    return found


def _usage(usage, lines) -> list[Mismatch]:
    metered = _monthly_sums(usage, TruncMonth("interval_start", tzinfo=UTC), "seconds")
    compute = lines.filter(component=ChargeComponent.COMPUTE)
    billed = _monthly_sums(compute, F("service_period_start"), "seconds")
    return _disagreements("usage", "seconds", metered, billed)


def _egress(reports, lines) -> list[Mismatch]:
    reported = _monthly_sums(reports, TruncMonth("reported_at", tzinfo=UTC), "gb")
    egress = lines.filter(component=ChargeComponent.EGRESS)
    billed = _monthly_sums(egress, F("service_period_start"), "gigabytes")
    return _disagreements("egress", "GB", reported, billed)


def _monthly_sums(rows, month, field: str) -> dict[tuple[int, datetime], Decimal]:
    """{(reservation, month): Σ field}, one grouped query."""
    grouped = (
        rows.annotate(month=month)
        .values_list("reservation_id", "month")
        .annotate(total=Sum(field))
        .order_by()
    )
    return {(reservation_id, month): total for reservation_id, month, total in grouped}


def _disagreements(check: str, unit: str, expected: dict, billed: dict) -> list[Mismatch]:
    found = []
    for reservation_id, month in sorted(set(expected) | set(billed)):
        want = expected.get((reservation_id, month), 0)
        have = billed.get((reservation_id, month), 0)
        if want != have:
            label = f"reservation {reservation_id} {month:%Y-%m} {unit}"
            found.append(Mismatch(check, label, want, have))
    return found


def _payouts() -> list[Mismatch]:
    posted = _posted_amounts(JournalEntryKind.PAYOUT, LedgerAccount.PROVIDER_PAYABLE)
    found = []
    paid = ProviderStatement.objects.filter(status=StatementStatus.PAID)
    for pk, net in paid.values_list("pk", "net"):
        key = source_key(JournalEntryKind.PAYOUT, pk)
        amounts = posted.pop(key, [])
        if amounts != [net]:
            found.append(Mismatch("payouts", f"statement {pk} ({key})", [net], amounts))
    for key, amounts in sorted(posted.items()):
        found.append(Mismatch("payouts", f"{key} without a paid statement", [], amounts))
    return found


# What Stripe confirmed, each with the entry it must have: (entry kind, the ledger account
# whose debit − credit is the amount, the rows, the source id of a row).
_MONEY_MOVES = (
    (JournalEntryKind.PAYMENT, LedgerAccount.CASH, PaymentAttempt, "idempotency_key"),
    (JournalEntryKind.TOP_UP, LedgerAccount.CASH, TopUp, "pk"),
    (JournalEntryKind.REFUND, LedgerAccount.ACCOUNTS_RECEIVABLE, Refund, "pk"),
)


def _money_moves() -> list[Mismatch]:
    """8. `money_moves`: every charge, top-up and refund Stripe confirmed has exactly one
    entry of its amount, and no card payment of an invoice is posted without its attempt."""
    found = []
    for kind, account, model, source_field in _MONEY_MOVES:
        posted = _posted_amounts(kind, account)
        confirmed = model.objects.filter(status=ChargeStatus.SUCCEEDED)
        for source, amount in confirmed.values_list(source_field, "amount"):
            key = source_key(kind, source)
            amounts = posted.pop(key, [])
            if amounts != [amount]:
                found.append(Mismatch("money_moves", key, [amount], amounts))
        for key, amounts in sorted(posted.items()):
            if key.startswith(f"{JournalEntryKind.PAYMENT}:invoice-"):
                found.append(Mismatch("money_moves", f"{key} without its charge", [], amounts))
    return found


def _posted_amounts(kind: str, account: str) -> dict[str, list[Decimal]]:
    rows = (
        JournalEntry.objects.filter(kind=kind)
        .annotate(
            debit=Sum("lines__debit", filter=Q(lines__account=account)),
            credit=Sum("lines__credit", filter=Q(lines__account=account)),
        )
        .values_list("source_key", "debit", "credit")
    )
    posted: dict[str, list[Decimal]] = defaultdict(list)
    for key, debit, credit in rows:
        posted[key].append((debit or ZERO) - (credit or ZERO))
    return posted


def _provider_payables() -> list[Mismatch]:
    expected: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    stated = StatementLine.objects.values_list(
        "statement__provider_id", "statement__currency"
    ).annotate(net=Sum("net"))
    for provider_id, currency, net in stated:
        expected[(provider_id, currency)] += net
    paid = (
        ProviderStatement.objects.filter(status=StatementStatus.PAID)
        .values_list("provider_id", "currency")
        .annotate(net=Sum("net"))
    )
    for provider_id, currency, net in paid:
        expected[(provider_id, currency)] -= net
    percent = settings.PLATFORM_FEE_PERCENT
    earned = (
        InvoiceLine.objects.filter(invoice__status__in=FINALISED, statement_line__isnull=True)
        .exclude(invoice__status=InvoiceStatus.VOID)
        .values_list("reservation__offer__provider_id", "invoice__currency", "invoice_id")
        .annotate(share=Sum("amount"))
    )
    for provider_id, currency, _, share in earned:
        expected[(provider_id, currency)] += share - platform_fee(share, currency, percent)
    credited = (
        CreditNoteLine.objects.filter(statement_line__isnull=True)
        .values_list(
            "invoice_line__reservation__offer__provider_id", "credit_note__currency",
            "credit_note_id",
        )
        .annotate(share=Sum("amount"))
    )  # fmt: skip
    for provider_id, currency, _, share in credited:
        expected[(provider_id, currency)] -= share - platform_fee(share, currency, percent)
    ledger = {
        (provider_id, currency): credit - debit
        for provider_id, currency, debit, credit in JournalLine.objects.filter(
            account=LedgerAccount.PROVIDER_PAYABLE
        )
        .values_list("provider_id", "entry__currency")
        .annotate(debit=Sum("debit"), credit=Sum("credit"))
    }
    found = []
    for provider_id, currency in sorted(set(expected) | set(ledger)):
        want = expected.get((provider_id, currency), ZERO)
        have = ledger.get((provider_id, currency), ZERO)
        if want != have:
            found.append(
                Mismatch("provider_payable", f"provider {provider_id} {currency}", want, have)
            )
    return found
