"""Reads of payments: an organization's payment account and top-ups, an invoice's attempts,
and what the beat must collect or refund now."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db.models import QuerySet, Sum

from billing.models import (
    ChargeStatus,
    Invoice,
    InvoiceStatus,
    PaymentAccount,
    PaymentAttempt,
    Refund,
    TopUp,
)
from common.errors import DomainError

# Invoices that may be charged: finalised and not settled.
COLLECTABLE = (InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE)


def payment_account_of(*, org) -> PaymentAccount | None:
    return PaymentAccount.objects.filter(org=org).first()


def payment_method_of(*, org) -> PaymentAccount:
    """The organization's account with a payment method; 409 `payment_method_required`."""
    account = payment_account_of(org=org)
    if account is None or not account.payment_method:
        raise DomainError(
            "payment_method_required",
            "The organization has no payment method: POST one to /api/v1/billing/payment-method/.",
        )
    return account


def top_ups_for_org(*, org) -> QuerySet[TopUp]:
    return TopUp.objects.filter(org=org)


def attempts_of_invoice(invoice: Invoice) -> QuerySet[PaymentAttempt]:
    return invoice.attempts.order_by("number")


def invoices_collectable(*, org) -> QuerySet[Invoice]:
    return Invoice.objects.filter(org=org, status__in=COLLECTABLE, amount_due__gt=0)


def invoice_ids_due_for_collection(*, now: datetime) -> list[int]:
    """Collectable invoices whose next try is due: a dunning retry, or a charge whose outcome
    was lost (its lease ran out)."""
    due = Invoice.objects.filter(
        status__in=COLLECTABLE, amount_due__gt=0, next_collection_at__lte=now
    )
    return list(due.order_by("next_collection_at", "pk").values_list("pk", flat=True))


def top_up_ids_unsettled(*, before: datetime) -> list[int]:
    """Top-ups sent before `before` whose outcome is still not known."""
    rows = TopUp.objects.filter(status=ChargeStatus.PENDING, updated_at__lt=before)
    return list(rows.order_by("pk").values_list("pk", flat=True))


def refund_ids_due(*, now: datetime) -> list[int]:
    rows = Refund.objects.filter(status=ChargeStatus.PENDING, next_attempt_at__lte=now)
    return list(rows.order_by("pk").values_list("pk", flat=True))


def card_payment_left(invoice: Invoice) -> tuple[PaymentAttempt | None, Decimal]:
    """The invoice's last succeeded card payment and what of it was not refunded yet
    (refunds pending or made), or (None, 0) if no card paid it."""
    attempt = invoice.attempts.filter(status=ChargeStatus.SUCCEEDED).order_by("-number").first()
    if attempt is None:
        return None, Decimal(0)
    refunded = (
        Refund.objects.filter(payment_intent=attempt.payment_intent)
        .exclude(status=ChargeStatus.FAILED)
        .aggregate(total=Sum("amount"))["total"]
    )
    return attempt, attempt.amount - (refunded or 0)
