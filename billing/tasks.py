"""Billing tasks: load by id, call one service; all safe to run twice."""

from __future__ import annotations

from celery import shared_task

from billing.selectors import reservations_with_unmetered_run_ends
from billing.services.budgets import budgets_check
from billing.services.bulk import usage_meter_open_runs
from billing.services.finalisation import billing_period_close, billing_periods_due
from billing.services.invoices import reservation_meter_and_invoice


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
