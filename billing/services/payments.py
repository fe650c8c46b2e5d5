"""Taking the buyers' money through Stripe (billing.services.stripe_gateway): the payment
method, collecting finalised invoices with dunning, prepaid top-ups, refunds for credit notes.

Every charge is a row of ours first (`PaymentAttempt`, `TopUp`, `Refund`) whose idempotency
key is committed before Stripe is called. If the outcome of the call is lost (a timeout, a
Stripe 5xx, a worker killed in the middle), the row stays `pending` and the beat sends the
same key again later (`BILLING_PENDING_RETRY_SECONDS`): Stripe answers with what the first
request made, so nothing is charged twice and nothing stays stuck. A declined card fails the
attempt; the next one is tried on the dunning schedule (`BILLING_RETRY_SCHEDULE`), and when
the schedule is used up the invoice is `uncollectible`, which blocks new reservations
(billing.services.funds) until it is paid.

An outcome may be reported twice, by Stripe's answer and by its webhook event: settling
checks the row's status under its lock, so the second report changes nothing. Lock order:
the invoice, then its attempt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.models import (
    AuditAction,
    ChargeStatus,
    CreditNote,
    Invoice,
    InvoiceStatus,
    PaymentAccount,
    PaymentAttempt,
    Refund,
    StripeEvent,
    TopUp,
)
from billing.selectors_payments import (
    COLLECTABLE,
    card_payment_left,
    invoices_collectable,
    payment_account_of,
    payment_method_of,
)
from billing.services import stripe_gateway as gateway
from billing.services.audit import audit_record
from billing.services.ledger import (
    ledger_post_credit_returned,
    ledger_post_payment,
    ledger_post_refund,
    ledger_post_top_up,
)
from common.errors import DomainError
from marketplace.handoff import enqueue_on_commit

COLLECT_INVOICE = "billing.collect_invoice"
REFUND_CREDIT_NOTE = "billing.refund_credit_note"
ZERO = Decimal(0)


def _domain_error(error: gateway.GatewayError) -> DomainError:
    return DomainError(error.code, error.message, retryable=error.retryable)


def _refused(code: str, message: str, **extra) -> DomainError:
    """A charge Stripe refused, as the API reports it: `card_declined` (Stripe's own reason,
    e.g. expired_card, beside it) or `stripe_rejected` (a request Stripe found invalid)."""
    ours = "stripe_rejected" if code == "stripe_rejected" else "card_declined"
    return DomainError(ours, message or "The card was declined.", stripe_code=code, **extra)


def _pending_lease(now: datetime) -> datetime:
    return now + timedelta(seconds=settings.BILLING_PENDING_RETRY_SECONDS)


# --- the payment method ----------------------------------------------------------------------


def payment_method_set(
    *, org, payment_method: str, actor=None, session_key: str | None = None
) -> PaymentAccount:
    """Attach `payment_method` (a Stripe id, e.g. pm_card_visa in test mode) to the
    organization's Stripe customer (made on first use) as its default; invoices owing money
    are then collected with it. A card Stripe refuses: 402 `card_declined`."""
    account = payment_account_of(org=org) or _payment_account_create(org)
    try:
        info = gateway.payment_method_attach(
            customer_id=account.stripe_customer, payment_method=payment_method
        )
    except gateway.GatewayError as error:
        raise _domain_error(error) from error
    with transaction.atomic():
        account = PaymentAccount.objects.select_for_update().get(pk=account.pk)
        account.payment_method, account.card_brand, account.card_last4 = (
            info.id, info.brand, info.last4,
        )  # fmt: skip
        account.save()
        audit_record(
            org=org,
            action=AuditAction.PAYMENT_METHOD_SET,
            subject=f"payment_method:{info.id}",
            actor=actor,
            session_key=session_key,
            detail={"brand": info.brand, "last4": info.last4},
        )
        for invoice in invoices_collectable(org=org):
            _collection_queue(invoice, timezone.now())
    return account


def _payment_account_create(org) -> PaymentAccount:
    """The organization's Stripe customer. Keyed by the organization (stripe_gateway), so
    that two racing requests make one customer; the row's unique org keeps one account."""
    try:
        customer = gateway.customer_create(org_id=org.pk, name=org.name)
    except gateway.GatewayError as error:
        raise _domain_error(error) from error
    try:
        with transaction.atomic():
            return PaymentAccount.objects.create(org=org, stripe_customer=customer)
    except IntegrityError:
        return PaymentAccount.objects.get(org=org)


# --- collecting invoices ---------------------------------------------------------------------


def invoice_collection_schedule(invoice: Invoice) -> bool:
    """At finalisation, in its transaction: queue the collection of what the invoice still
    owes when its organization has a payment method. Returns whether it was queued."""
    if invoice.status != InvoiceStatus.OPEN or invoice.amount_due <= 0:
        return False
    account = payment_account_of(org=invoice.org)
    if account is None or not account.payment_method:
        return False
    _collection_queue(invoice, timezone.now())
    return True


def _collection_queue(invoice: Invoice, now: datetime) -> None:
    """Queue the collection; the lease makes the beat send it if the message is lost, and
    not while the task is on its way."""
    Invoice.objects.filter(pk=invoice.pk).update(next_collection_at=_pending_lease(now))
    enqueue_on_commit(COLLECT_INVOICE, invoice.pk)


def invoice_pay(*, invoice: Invoice, actor=None, session_key: str | None = None) -> Invoice:
    """The buyer asks to pay a finalised invoice (of its organization: the caller found it
    there) now with its payment method. An invoice already paid is returned as it is
    (nothing charged). A declined card: 402 `card_declined`; Stripe unreachable: 503
    `stripe_unavailable` (the charge is retried with the same key); either way the invoice
    stays collectable and shows the error."""
    org = invoice.org
    if invoice.status == InvoiceStatus.PAID:
        return invoice
    if invoice.status not in COLLECTABLE:
        raise DomainError(
            "invoice_not_payable",
            f"Invoice {invoice.number or invoice.pk} is {invoice.status}: only an open or "
            "uncollectible invoice can be paid (finalise a draft first).",
            status=invoice.status,
        )
    payment_method_of(org=org)
    audit_record(
        org=org,
        action=AuditAction.INVOICE_PAYMENT_REQUESTED,
        subject=f"invoice:{invoice.pk}",
        actor=actor,
        session_key=session_key,
        detail={"number": invoice.number, "amount_due": str(invoice.amount_due)},
    )
    attempt = invoice_collect(invoice_id=invoice.pk)
    invoice.refresh_from_db()
    if attempt is not None and attempt.status == ChargeStatus.FAILED:
        raise _refused(attempt.error_code, attempt.error_message, invoice=invoice.pk)
    if attempt is not None and attempt.status == ChargeStatus.PENDING and attempt.error_message:
        raise DomainError("stripe_unavailable", attempt.error_message, invoice=invoice.pk)
    return invoice


def invoice_collect(*, invoice_id: int, now: datetime | None = None) -> PaymentAttempt | None:
    """Charge what the invoice owes (the task, the beat and `invoice_pay`). Returns the
    attempt as it ended (pending while Stripe's answer is unknown), or None when there was
    nothing to charge."""
    now = now or timezone.now()
    attempt = _attempt_open(invoice_id, now)
    if attempt is None:
        return None
    try:
        result = gateway.payment_intent_create(
            amount=attempt.amount,
            currency=attempt.currency,
            customer_id=attempt.invoice.org.payment_account.stripe_customer,
            payment_method=attempt.payment_method,
            idempotency_key=attempt.idempotency_key,
            metadata={"invoice": attempt.invoice.number, "attempt": attempt.idempotency_key},
        )
    except gateway.GatewayError as error:
        if error.retryable:
            return _attempt_unknown(attempt.pk, error.message)
        return attempt_failed(attempt_id=attempt.pk, code=error.code, message=error.message)
    return _attempt_settle(attempt.pk, result)


@transaction.atomic
def _attempt_open(invoice_id: int, now: datetime) -> PaymentAttempt | None:
    """The attempt to send now, committed with its key before Stripe is called: the pending
    one (sent before, outcome unknown: sent again as it was) or a new one for what is owed.
    The invoice's next collection is set a lease ahead, so that a lost outcome is retried."""
    invoice = Invoice.objects.select_for_update().select_related("org").get(pk=invoice_id)
    if invoice.status not in COLLECTABLE or invoice.amount_due <= 0:
        Invoice.objects.filter(pk=invoice.pk).update(next_collection_at=None)
        return None
    attempt = invoice.attempts.filter(status=ChargeStatus.PENDING).first()
    if attempt is None:
        account = payment_account_of(org=invoice.org)
        if account is None or not account.payment_method:
            invoice.next_collection_at = None
            invoice.collection_error = "No payment method: add one to pay this invoice."
            invoice.save(update_fields=["next_collection_at", "collection_error", "updated_at"])
            return None
        number = invoice.attempts.count() + 1
        attempt = PaymentAttempt.objects.create(
            invoice=invoice,
            number=number,
            idempotency_key=f"invoice-{invoice.number}-attempt-{number}",
            amount=invoice.amount_due,
            currency=invoice.currency,
            payment_method=account.payment_method,
        )
    invoice.next_collection_at = _pending_lease(now)
    invoice.save(update_fields=["next_collection_at", "updated_at"])
    attempt.invoice = invoice
    return attempt


def _attempt_settle(attempt_id: int, result: gateway.IntentResult) -> PaymentAttempt:
    if result.succeeded:
        return attempt_succeeded(attempt_id=attempt_id, payment_intent=result.id)
    if result.failed:
        return attempt_failed(
            attempt_id=attempt_id,
            code=result.error_code or "card_declined",
            message=result.error_message or "The card was declined.",
            payment_intent=result.id,
        )
    # processing, requires_action: Stripe's webhook event settles it; until then the lease
    # on the invoice asks Stripe again with the same key.
    return _attempt_unknown(
        attempt_id, f"Stripe has not confirmed the payment yet ({result.status}).", result.id
    )


@transaction.atomic
def _attempt_unknown(attempt_id: int, message: str, payment_intent: str = "") -> PaymentAttempt:
    invoice, attempt = _locked(attempt_id)
    if attempt.status == ChargeStatus.PENDING:
        attempt.error_message = message[:300]
        attempt.payment_intent = payment_intent or attempt.payment_intent
        attempt.save(update_fields=["error_message", "payment_intent", "updated_at"])
        invoice.collection_error = message[:300]
        invoice.save(update_fields=["collection_error", "updated_at"])
    return attempt


def _locked(attempt_id: int) -> tuple[Invoice, PaymentAttempt]:
    invoice_id = PaymentAttempt.objects.values_list("invoice_id", flat=True).get(pk=attempt_id)
    invoice = Invoice.objects.select_for_update().select_related("org").get(pk=invoice_id)
    attempt = PaymentAttempt.objects.select_for_update().get(pk=attempt_id)
    return invoice, attempt


@transaction.atomic
def attempt_succeeded(
    *, attempt_id: int, payment_intent: str, now: datetime | None = None
) -> PaymentAttempt:
    """Stripe took the money: post it, and the invoice is paid when nothing is left owing.
    Also after a failure was recorded (a late success still took the money). What the charge
    paid beyond what was still owed (a credit note issued meanwhile) becomes prepaid credit."""
    now = now or timezone.now()
    invoice, attempt = _locked(attempt_id)
    if attempt.status == ChargeStatus.SUCCEEDED:
        return attempt
    attempt.status, attempt.payment_intent = ChargeStatus.SUCCEEDED, payment_intent
    attempt.error_code = attempt.error_message = ""
    attempt.save()
    ledger_post_payment(
        org=invoice.org,
        amount=attempt.amount,
        currency=attempt.currency,
        source_id=attempt.idempotency_key,
        posted_at=now,
        memo=f"Card payment of invoice {invoice.number} ({payment_intent})",
    )
    paid = min(attempt.amount, invoice.amount_due)
    if attempt.amount > paid:
        ledger_post_credit_returned(
            org_id=invoice.org_id,
            amount=attempt.amount - paid,
            currency=attempt.currency,
            source_id=attempt.idempotency_key,
            memo=f"Paid beyond what invoice {invoice.number} owed",
        )
    invoice.amount_due -= paid
    invoice.collection_error = ""
    if invoice.amount_due == 0 and invoice.status in COLLECTABLE:
        invoice_mark_paid(invoice, now=now, by="card", amount=attempt.amount)
    invoice.save()
    return attempt


def invoice_mark_paid(invoice: Invoice, *, now: datetime, by: str, amount: Decimal) -> None:
    """Nothing is left owing: paid now (the caller saves), with its audit record. Lifts the
    block an uncollectible invoice put on new reservations."""
    invoice.status = InvoiceStatus.PAID
    invoice.paid_at = now
    invoice.next_collection_at = None
    audit_record(
        org=invoice.org,
        action=AuditAction.INVOICE_PAID,
        subject=f"invoice:{invoice.pk}",
        detail={"by": by, "amount": str(amount), "number": invoice.number},
    )


@transaction.atomic
def attempt_failed(
    *,
    attempt_id: int,
    code: str,
    message: str,
    payment_intent: str = "",
    now: datetime | None = None,
) -> PaymentAttempt:
    """Stripe refused the charge: the next try is set on the dunning schedule, or, once it is
    used up, the invoice becomes uncollectible. A failure reported after a success (an old
    event) changes nothing."""
    now = now or timezone.now()
    invoice, attempt = _locked(attempt_id)
    if attempt.status != ChargeStatus.PENDING:
        return attempt
    attempt.status = ChargeStatus.FAILED
    attempt.error_code, attempt.error_message = code[:100], message[:300]
    attempt.payment_intent = payment_intent or attempt.payment_intent
    attempt.save()
    failures = invoice.attempts.filter(status=ChargeStatus.FAILED).count()
    schedule = settings.BILLING_RETRY_SCHEDULE
    invoice.collection_error = f"Payment failed: {message}"[:300]
    if failures <= len(schedule):
        invoice.next_collection_at = now + timedelta(seconds=schedule[failures - 1])
    else:
        invoice.next_collection_at = None
        if invoice.status == InvoiceStatus.OPEN:
            invoice.status = InvoiceStatus.UNCOLLECTIBLE
            audit_record(
                org=invoice.org,
                action=AuditAction.INVOICE_UNCOLLECTIBLE,
                subject=f"invoice:{invoice.pk}",
                detail={"number": invoice.number, "failed_attempts": failures},
            )
    invoice.save()
    audit_record(
        org=invoice.org,
        action=AuditAction.PAYMENT_FAILED,
        subject=f"invoice:{invoice.pk}",
        detail={"attempt": attempt.idempotency_key, "code": code, "message": message[:300]},
    )
    return attempt


# --- top-ups ---------------------------------------------------------------------------------


def top_up_create(
    *,
    org,
    amount: Decimal,
    currency: str,
    actor=None,
    session_key: str | None = None,
) -> TopUp:
    """Buy prepaid credit with the organization's payment method. Credit only once Stripe
    confirms the payment (its answer or its webhook event). A declined card: 402
    `card_declined` (the top-up is kept, failed)."""
    account = payment_method_of(org=org)
    with transaction.atomic():
        top_up = TopUp.objects.create(
            org=org,
            amount=amount,
            currency=currency,
            payment_method=account.payment_method,
            requested_by=actor.user if actor is not None and actor.user.is_authenticated else None,
        )
        audit_record(
            org=org,
            action=AuditAction.TOP_UP_REQUESTED,
            subject=f"top_up:{top_up.pk}",
            actor=actor,
            session_key=session_key,
            detail={"amount": str(amount), "currency": currency},
        )
    top_up = top_up_charge(top_up_id=top_up.pk)
    if top_up.status == ChargeStatus.FAILED:
        raise _refused(top_up.error_code, top_up.error_message, top_up=top_up.pk)
    return top_up


def top_up_charge(*, top_up_id: int) -> TopUp:
    """Send (or send again, with the same key) a pending top-up's charge."""
    top_up = TopUp.objects.select_related("org__payment_account").get(pk=top_up_id)
    if top_up.status != ChargeStatus.PENDING:
        return top_up
    try:
        result = gateway.payment_intent_create(
            amount=top_up.amount,
            currency=top_up.currency,
            customer_id=top_up.org.payment_account.stripe_customer,
            payment_method=top_up.payment_method,
            idempotency_key=top_up.idempotency_key,
            metadata={"top_up": str(top_up.pk), "org": str(top_up.org_id)},
        )
    except gateway.GatewayError as error:
        if error.retryable:
            return _top_up_unknown(top_up.pk, error.message)
        return top_up_failed(top_up_id=top_up.pk, code=error.code, message=error.message)
    if result.succeeded:
        return top_up_succeeded(top_up_id=top_up.pk, payment_intent=result.id)
    if result.failed:
        return top_up_failed(
            top_up_id=top_up.pk,
            code=result.error_code or "card_declined",
            message=result.error_message or "The card was declined.",
            payment_intent=result.id,
        )
    return _top_up_unknown(
        top_up.pk, f"Stripe has not confirmed the payment yet ({result.status}).", result.id
    )


@transaction.atomic
def _top_up_unknown(top_up_id: int, message: str, payment_intent: str = "") -> TopUp:
    top_up = TopUp.objects.select_for_update().get(pk=top_up_id)
    if top_up.status == ChargeStatus.PENDING:
        top_up.error_message = message[:300]
        top_up.payment_intent = payment_intent or top_up.payment_intent
        top_up.save()
    return top_up


@transaction.atomic
def top_up_succeeded(*, top_up_id: int, payment_intent: str, now: datetime | None = None) -> TopUp:
    """Stripe confirmed the top-up: the organization's prepaid credit grows, once."""
    now = now or timezone.now()
    top_up = TopUp.objects.select_for_update().select_related("org").get(pk=top_up_id)
    if top_up.status == ChargeStatus.SUCCEEDED:
        return top_up
    top_up.status, top_up.payment_intent = ChargeStatus.SUCCEEDED, payment_intent
    top_up.error_code = top_up.error_message = ""
    top_up.credited_at = now
    top_up.save()
    ledger_post_top_up(
        org=top_up.org,
        amount=top_up.amount,
        currency=top_up.currency,
        source_id=top_up.pk,
        posted_at=now,
        memo=f"Top-up {top_up.pk} ({payment_intent})",
    )
    audit_record(
        org=top_up.org,
        action=AuditAction.TOP_UP_CREDITED,
        subject=f"top_up:{top_up.pk}",
        detail={"amount": str(top_up.amount), "currency": top_up.currency},
    )
    return top_up


@transaction.atomic
def top_up_failed(*, top_up_id: int, code: str, message: str, payment_intent: str = "") -> TopUp:
    top_up = TopUp.objects.select_for_update().get(pk=top_up_id)
    if top_up.status != ChargeStatus.PENDING:
        return top_up
    top_up.status = ChargeStatus.FAILED
    top_up.error_code, top_up.error_message = code[:100], message[:300]
    top_up.payment_intent = payment_intent or top_up.payment_intent
    top_up.save()
    return top_up


# --- refunds ---------------------------------------------------------------------------------


def credit_note_pay_back(note: CreditNote, *, paid_back: Decimal) -> Refund | None:
    """In the credit note's transaction: `paid_back` is what the note takes back of money the
    organization had paid. The part a card paid is refunded to it (a `Refund`, sent once the
    transaction commits); the rest, paid from prepaid credit, returns there."""
    if paid_back <= 0:
        return None
    attempt, card_left = card_payment_left(note.invoice)
    to_card = min(paid_back, card_left) if attempt is not None else ZERO
    if paid_back > to_card:
        ledger_post_credit_returned(
            org_id=note.org_id,
            amount=paid_back - to_card,
            currency=note.currency,
            source_id=f"credit-note-{note.number}",
            memo=f"Credit note {note.number} returned as prepaid credit",
        )
    if to_card <= 0:
        return None
    refund = Refund.objects.create(
        credit_note=note,
        payment_intent=attempt.payment_intent,
        amount=to_card,
        currency=note.currency,
        next_attempt_at=_pending_lease(timezone.now()),
    )
    enqueue_on_commit(REFUND_CREDIT_NOTE, refund.pk)
    return refund


def refund_send(*, refund_id: int, now: datetime | None = None) -> Refund:
    """Send a pending refund to Stripe (again, with the same key, if its outcome was lost)."""
    now = now or timezone.now()
    refund = Refund.objects.select_related("credit_note").get(pk=refund_id)
    if refund.status != ChargeStatus.PENDING:
        return refund
    try:
        stripe_refund = gateway.refund_create(
            payment_intent_id=refund.payment_intent,
            amount=refund.amount,
            currency=refund.currency,
            idempotency_key=refund.idempotency_key,
            metadata={"credit_note": refund.credit_note.number},
        )
    except gateway.GatewayError as error:
        return _refund_error(refund.pk, error, now)
    return refund_succeeded(refund_id=refund.pk, stripe_refund=stripe_refund)


@transaction.atomic
def _refund_error(refund_id: int, error: gateway.GatewayError, now: datetime) -> Refund:
    refund = Refund.objects.select_for_update().get(pk=refund_id)
    if refund.status != ChargeStatus.PENDING:
        return refund
    refund.attempts += 1
    refund.error_message = error.message[:300]
    if error.retryable:
        refund.next_attempt_at = _pending_lease(now)
    else:
        refund.status = ChargeStatus.FAILED
    refund.save()
    return refund


@transaction.atomic
def refund_succeeded(*, refund_id: int, stripe_refund: str) -> Refund:
    refund = Refund.objects.select_for_update().select_related("credit_note__org").get(pk=refund_id)
    if refund.status == ChargeStatus.SUCCEEDED:
        return refund
    refund.status, refund.stripe_refund = ChargeStatus.SUCCEEDED, stripe_refund
    refund.attempts += 1
    refund.error_message = ""
    refund.save()
    ledger_post_refund(refund)
    audit_record(
        org=refund.credit_note.org,
        action=AuditAction.REFUND,
        subject=f"credit_note:{refund.credit_note_id}",
        detail={
            "amount": str(refund.amount),
            "currency": refund.currency,
            "refund": stripe_refund,
        },  # fmt: skip
    )
    return refund


# --- Stripe's webhook events -----------------------------------------------------------------


@dataclass(frozen=True)
class EventOutcome:
    handled: bool  # False: a redelivery of an event handled before
    type: str


@transaction.atomic
def stripe_event_handle(event: dict) -> EventOutcome:
    """Handle a verified event once: its id is stored in the same transaction, so a
    redelivery (or two deliveries at once) finds it and has no second effect. Events of
    other types are stored and ignored."""
    kind = event["type"]
    try:
        with transaction.atomic():
            StripeEvent.objects.create(event_id=event["id"][:255], type=kind[:100])
    except IntegrityError:
        return EventOutcome(handled=False, type=kind)
    handler = _EVENT_HANDLERS.get(kind)
    if handler is not None:
        handler(event["data"]["object"])
    return EventOutcome(handled=True, type=kind)


def _intent_succeeded(intent: dict) -> None:
    attempt, top_up = _intent_subject(intent)
    if attempt is not None:
        attempt_succeeded(attempt_id=attempt.pk, payment_intent=intent.get("id", ""))
    elif top_up is not None:
        top_up_succeeded(top_up_id=top_up.pk, payment_intent=intent.get("id", ""))


def _intent_failed(intent: dict) -> None:
    error = intent.get("last_payment_error") or {}
    code = error.get("code") or "card_declined"
    message = error.get("message") or "The card was declined."
    attempt, top_up = _intent_subject(intent)
    if attempt is not None:
        attempt_failed(attempt_id=attempt.pk, code=code, message=message,
                       payment_intent=intent.get("id", ""))  # fmt: skip
    elif top_up is not None:
        top_up_failed(top_up_id=top_up.pk, code=code, message=message,
                      payment_intent=intent.get("id", ""))  # fmt: skip


def _intent_subject(intent: dict) -> tuple[PaymentAttempt | None, TopUp | None]:
    """Our row of a PaymentIntent: named in its metadata (the event may arrive before our
    own call returns and records the intent's id), else by the id."""
    metadata = intent.get("metadata") or {}
    attempt = PaymentAttempt.objects.filter(idempotency_key=metadata.get("attempt") or "").first()
    attempt = attempt or PaymentAttempt.objects.filter(payment_intent=intent.get("id", "")).first()
    if attempt is not None:
        return attempt, None
    top_up_id = str(metadata.get("top_up") or "")
    top_up = TopUp.objects.filter(pk=int(top_up_id)).first() if top_up_id.isdigit() else None
    top_up = top_up or TopUp.objects.filter(payment_intent=intent.get("id", "")).first()
    return None, top_up


def _charge_refunded(charge: dict) -> None:
    """Stripe refunded (part of) a charge: our refunds it lists are settled."""
    refunds = (charge.get("refunds") or {}).get("data") or []
    for item in refunds:
        if item.get("status") not in (None, "succeeded"):
            continue
        metadata = item.get("metadata") or {}
        refund = Refund.objects.filter(
            credit_note__number=metadata.get("credit_note") or "", status=ChargeStatus.PENDING
        ).first()
        if refund is not None:
            refund_succeeded(refund_id=refund.pk, stripe_refund=item.get("id", ""))


_EVENT_HANDLERS = {
    "payment_intent.succeeded": _intent_succeeded,
    "payment_intent.payment_failed": _intent_failed,
    "charge.refunded": _charge_refunded,
}
