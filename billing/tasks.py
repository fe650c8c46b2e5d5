"""Billing tasks: load by id, call one service; all safe to run twice."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from billing.periods import previous_month_start
from billing.selectors import reservations_with_unmetered_run_ends
from billing.selectors_payments import (
    invoice_ids_due_for_collection,
    refund_ids_due,
    top_up_ids_unsettled,
)
from billing.services.budgets import budgets_check
from billing.services.bulk import usage_meter_open_runs
from billing.services.finalisation import billing_period_close, billing_periods_due
from billing.services.invoices import reservation_meter_and_invoice
from billing.services.payments import invoice_collect, refund_send, top_up_charge
from billing.services.payouts import statement_pay, statements_build, statements_payable_ids


@shared_task(name="billing.record_reservation_usage", acks_late=True)
def record_reservation_usage(reservation_id: int) -> int:
    return reservation_meter_and_invoice(reservation_id=reservation_id)


@shared_task(name="billing.record_usage")
def record_usage() -> int:
    """Beat: meter every running reservation up to now, set-based (one transaction for all
    open runs), and queue the metering of every run that ended after its metered usage stops
    (the task queued at its end was lost). Returns intervals recorded + runs queued."""
    ends = set(reservations_with_unmetered_run_ends())
    for reservation_id in ends:
        record_reservation_usage.delay(reservation_id)
    return usage_meter_open_runs() + len(ends)


# acks_late + reject_on_worker_lost: a worker killed mid-close hands the message back, and
# the next run finalises only what is still a draft.
@shared_task(name="billing.close_billing_periods", acks_late=True, reject_on_worker_lost=True)
def close_billing_periods() -> int:
    """Beat: finalise the drafts of every month that ended more than the grace ago."""
    return sum(len(billing_period_close(period=period)) for period in billing_periods_due())


# acks_late + reject_on_worker_lost: a worker killed mid-check hands the message back; each
# alert is claimed once per month and a reservation already terminating is left alone.
@shared_task(name="billing.check_budgets", acks_late=True, reject_on_worker_lost=True)
def check_budgets() -> int:
    """Beat: every budget's 80 % and 100 % alerts (once each a month) and hard stops."""
    return budgets_check()


@shared_task(name="billing.build_statements")
def build_statements() -> int:
    """Beat (daily): last month's provider statements, once it has ended and its invoices
    were given the billing grace; new paid lines join a statement not yet sent, others wait
    for the next month's. Safe to run twice. Payable ones are queued for payment."""
    now = timezone.now()
    period = previous_month_start(now - timedelta(seconds=settings.BILLING_GRACE_SECONDS))
    built = statements_build(period=period, now=now)
    pay_statements.delay()
    return len(built)


# acks_late + reject_on_worker_lost: a worker killed inside the transfer call hands the
# message back; the retry sends the same idempotency key, and Stripe answers with the
# transfer it made, so the provider is paid once.
@shared_task(name="billing.pay_statement", acks_late=True, reject_on_worker_lost=True)
def pay_statement(statement_id: int) -> str:
    return statement_pay(statement_id=statement_id).status


@shared_task(name="billing.pay_statements")
def pay_statements() -> int:
    """Beat: queue the payment of every payable statement with a payout account (a Stripe
    failure recorded on one is retried here, with the same key)."""
    ids = statements_payable_ids()
    for statement_id in ids:
        pay_statement.delay(statement_id)
    return len(ids)


# acks_late + reject_on_worker_lost: a worker killed inside the charge hands the message
# back; the attempt is still pending, so the retry sends the same idempotency key and Stripe
# answers with the PaymentIntent it made: one charge. A message lost altogether is caught by
# the beat below, once the invoice's lease runs out.
@shared_task(name="billing.collect_invoice", acks_late=True, reject_on_worker_lost=True)
def collect_invoice(invoice_id: int) -> str:
    attempt = invoice_collect(invoice_id=invoice_id)
    return attempt.status if attempt is not None else "nothing_to_collect"


@shared_task(name="billing.refund_credit_note", acks_late=True, reject_on_worker_lost=True)
def refund_credit_note(refund_id: int) -> str:
    return refund_send(refund_id=refund_id).status


@shared_task(name="billing.charge_top_up", acks_late=True, reject_on_worker_lost=True)
def charge_top_up(top_up_id: int) -> str:
    return top_up_charge(top_up_id=top_up_id).status


@shared_task(name="billing.retry_collections")
def retry_collections() -> int:
    """Beat: queue what is due: dunning retries and charges whose outcome was lost (same
    key), refunds not sent or failed transiently, top-ups whose outcome is unknown."""
    now = timezone.now()
    invoices = invoice_ids_due_for_collection(now=now)
    for invoice_id in invoices:
        collect_invoice.delay(invoice_id)
    refunds = refund_ids_due(now=now)
    for refund_id in refunds:
        refund_credit_note.delay(refund_id)
    before = now - timedelta(seconds=settings.BILLING_PENDING_RETRY_SECONDS)
    top_ups = top_up_ids_unsettled(before=before)
    for top_up_id in top_ups:
        charge_top_up.delay(top_up_id)
    return len(invoices) + len(refunds) + len(top_ups)
