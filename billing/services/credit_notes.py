"""Corrections of a finalised invoice, which itself never changes: a credit note (part or all
of it taken back, numbered in its own gapless series `CN-YYYY-NNNNNN`) or, while nothing was
paid or credited, a void. Each posts its ledger entry in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from billing.models import CreditNote, CreditNoteLine, Invoice, InvoiceLine, InvoiceStatus
from billing.services.finalisation import _next_number
from billing.services.invoices import reservations_record_billed
from billing.services.ledger import ledger_post_credit_note, ledger_post_void
from billing.services.payments import credit_note_pay_back, invoice_mark_paid
from common.errors import DomainError
from common.money import round_amount

CREDIT_NOTE_SERIES = "CN"
CREDITABLE = (InvoiceStatus.OPEN, InvoiceStatus.PAID)
ZERO = Decimal(0)


@dataclass(frozen=True)
class CreditRequest:
    """Amounts before tax, like invoice lines: per line (`lines`: invoice line id → amount),
    or one `amount` spread over the invoice's lines in proportion to what each has left."""

    reason: str
    lines: Sequence[tuple[int, Decimal]] = ()
    amount: Decimal | None = None


@transaction.atomic
def credit_note_issue(
    *, invoice_id: int, request: CreditRequest, now: datetime | None = None
) -> CreditNote:
    """Issue a credit note against a finalised (open or paid) invoice. The tax is credited at
    the invoice's rate (tax / subtotal), rounded once; an open invoice owes that much less."""
    now = now or timezone.now()
    invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
    invoice_require_creditable(invoice)
    lines = {line.pk: line for line in invoice.lines.order_by("id")}
    left = _left_to_credit(lines)
    credits = (
        _spread(request.amount, left, invoice.currency)
        if request.amount is not None
        else _checked_lines(request.lines, left, invoice.currency)
    )
    subtotal = sum(credits.values(), start=ZERO)
    tax = (
        round_amount(subtotal * invoice.tax / invoice.subtotal, invoice.currency)
        if invoice.subtotal
        else ZERO
    )
    credited = invoice.credit_notes.aggregate(total=Sum("total"))["total"] or ZERO
    if credited + subtotal + tax > invoice.total:
        raise DomainError(
            "credit_exceeds_invoice",
            f"Invoice {invoice.number} totals {invoice.total} {invoice.currency}, "
            f"{credited} of it credited already: {subtotal + tax} more would exceed it.",
            credited=str(credited),
            total=str(invoice.total),
        )
    note = CreditNote.objects.create(
        org_id=invoice.org_id,
        invoice=invoice,
        number=_next_number(now.year, CREDIT_NOTE_SERIES),
        currency=invoice.currency,
        reason=request.reason,
        issued_at=now,
        subtotal=subtotal,
        tax=tax,
        total=subtotal + tax,
    )
    CreditNoteLine.objects.bulk_create(
        CreditNoteLine(
            credit_note=note,
            invoice_line_id=line_id,
            description=f"Credit: {lines[line_id].description}",
            amount=amount,
        )
        for line_id, amount in credits.items()
    )
    # What the note takes back of what is still owed lowers the invoice's due; the rest was
    # paid already, and goes back to the card or the prepaid credit that paid it.
    owed_back = (
        min(invoice.amount_due, note.total) if invoice.status == InvoiceStatus.OPEN else ZERO
    )
    if owed_back:
        invoice.amount_due -= owed_back
        if invoice.amount_due == 0:
            invoice_mark_paid(invoice, now=now, by="credit_note", amount=ZERO)
        invoice.save()
    ledger_post_credit_note(note)
    credit_note_pay_back(note, paid_back=note.total - owed_back)
    return note


@transaction.atomic
def invoice_void(*, invoice_id: int, now: datetime | None = None) -> Invoice:
    """Void an open invoice nothing was paid or credited on: it charges nothing, its ledger
    entry is reversed, and its lines stop counting in its reservations' cost. Its usage is
    not billed again (the lines of a void invoice still count as billed)."""
    invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
    # A void invoice owes nothing without anything having been paid on it.
    paid = ZERO if invoice.status == InvoiceStatus.VOID else invoice.total - invoice.amount_due
    if not invoice_voidable(invoice):
        raise DomainError(
            "invoice_not_voidable",
            f"Invoice {invoice.number or 'draft'} is {invoice.status}"
            + (f", {paid} paid" if paid else "")
            + ": only an open invoice with nothing paid or credited can be voided.",
            status=invoice.status,
        )
    invoice.status = InvoiceStatus.VOID
    invoice.amount_due = ZERO
    invoice.save(update_fields=["status", "amount_due", "updated_at"])
    ledger_post_void(invoice, now=now)
    reservations_record_billed(
        reservation_ids=set(invoice.lines.values_list("reservation_id", flat=True))
    )
    return invoice


def invoice_voidable(invoice: Invoice) -> bool:
    """Whether `invoice_void` would void it (the pages show the action only then; prefetch
    `credit_notes` for them)."""
    paid = invoice.total - invoice.amount_due
    return invoice.status == InvoiceStatus.OPEN and not paid and not invoice.credit_notes.all()


def invoice_require_creditable(invoice: Invoice) -> None:
    """`invoice_not_finalised` for a draft, `invoice_not_creditable` for a void or
    uncollectible invoice (a credit note's page asks this before reading its form)."""
    if invoice.status == InvoiceStatus.DRAFT:
        raise DomainError(
            "invoice_not_finalised",
            "A draft cannot be credited: it still changes with usage. Finalise it first.",
            status=invoice.status,
        )
    if invoice.status not in CREDITABLE:
        raise DomainError(
            "invoice_not_creditable",
            f"Invoice {invoice.number} is {invoice.status}: only an open or paid invoice "
            "can be credited.",
            status=invoice.status,
        )


def _left_to_credit(lines: dict[int, InvoiceLine]) -> dict[int, Decimal]:
    """Each line's amount less what earlier credit notes took of it (none for a line that
    takes seconds back: its amount is negative)."""
    earlier = dict(
        CreditNoteLine.objects.filter(invoice_line_id__in=lines)
        .values("invoice_line_id")
        .annotate(amount=Sum("amount"))
        .values_list("invoice_line_id", "amount")
    )
    return {pk: max(line.amount - earlier.get(pk, ZERO), ZERO) for pk, line in lines.items()}


def _checked_lines(
    requested: Sequence[tuple[int, Decimal]], left: dict[int, Decimal], currency: str
) -> dict[int, Decimal]:
    credits: dict[int, Decimal] = {}
    for line_id, amount in requested:
        if line_id not in left:
            raise DomainError(
                "unknown_invoice_line", f"Line {line_id} is not a line of this invoice.",
                line=line_id,
            )  # fmt: skip
        if line_id in credits:
            raise DomainError("duplicate_line", f"Line {line_id} is named twice.", line=line_id)
        _require_amount(amount, currency)
        if amount > left[line_id]:
            raise DomainError(
                "credit_exceeds_line",
                f"Line {line_id} has {left[line_id]} {currency} left to credit; {amount} is more.",
                line=line_id,
                left=str(left[line_id]),
            )
        credits[line_id] = amount
    if not credits:
        raise DomainError("no_lines", "Name at least one line to credit, or an amount.")
    return credits


def _spread(amount: Decimal, left: dict[int, Decimal], currency: str) -> dict[int, Decimal]:
    """`amount` over the lines in proportion to what each has left, each share rounded once:
    each takes its share of what is still to spread, so the last takes the rest exactly and
    none takes more than it has left."""
    _require_amount(amount, currency)
    remaining = sum(left.values(), start=ZERO)
    if amount > remaining:
        raise DomainError(
            "credit_exceeds_invoice",
            f"The invoice's lines have {remaining} {currency} left to credit; {amount} is more.",
            left=str(remaining),
        )
    credits = {}
    to_spread = amount
    for line_id, line_left in left.items():
        if not line_left:
            continue
        share = round_amount(to_spread * line_left / remaining, currency)
        to_spread -= share
        remaining -= line_left
        if share:
            credits[line_id] = share
    return credits


def _require_amount(amount: Decimal, currency: str) -> None:
    if amount <= 0 or round_amount(amount, currency) != amount:
        raise DomainError(
            "invalid_amount",
            f"{amount} is not a positive amount in {currency}'s smallest unit.",
        )
