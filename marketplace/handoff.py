"""Hands work to other apps by Celery task name, after the transaction commits.

The marketplace never imports `brokers` or `billing` (they depend on it, not the other way
round); it names their tasks instead. Queuing on commit means a worker never picks up an
id whose row is not visible yet, and a rolled-back request queues nothing.
"""

from __future__ import annotations

from celery import current_app
from django.db import transaction

LAUNCH_RESERVATION = "brokers.launch_reservation"
TERMINATE_RESERVATION = "brokers.terminate_reservation"
RECORD_RESERVATION_USAGE = "billing.record_reservation_usage"


def enqueue_on_commit(task_name: str, *args, countdown: float | None = None) -> None:
    def send() -> None:
        current_app.send_task(task_name, args=list(args), countdown=countdown)

    transaction.on_commit(send)
