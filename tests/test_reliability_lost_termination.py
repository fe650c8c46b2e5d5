"""A lost terminate task, for real: the buyer's terminate request commits but its task never
reaches the queue; the beat's sweep queues it again, the worker terminates the instance, and
the reservation is billed from its start to its end, once. PostgreSQL, Redis and a Celery
worker process are real; the task is lost by not sending it."""

from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.utils import timezone

from billing.models import InvoiceLine
from brokers.tasks import retry_stuck_terminations
from conftest import wait_until
from marketplace.handoff import TERMINATE_RESERVATION
from marketplace.models import Reservation
from marketplace.tests.provider_fixtures import record_sent_tasks
from tests.factories import OfferFactory, backdate_running, make_org_with_key

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

RAN_SECONDS = 300  # how long it ran before the buyer asked to terminate it
PRICE = Decimal("2.990000")


def test_a_lost_terminate_task_is_queued_again_and_billed_to_the_end(
    celery_worker_process, api_client, monkeypatch
):
    # given a reservation launched and running through the worker for RAN_SECONDS
    buyer = make_org_with_key(role="buyer")
    offer = OfferFactory(price_per_hour=PRICE, available=1)
    created = api_client.post(
        "/api/v1/reservations/", {"offer": offer.pk, "hours": "1"}, format="json", **buyer.headers
    )
    assert created.status_code == 201, created.content
    reservation_id = created.json()["id"]
    wait_until(
        lambda: Reservation.objects.filter(pk=reservation_id, status="running").exists(),
        what="the reservation to run",
    )
    started = backdate_running(reservation_id, seconds=RAN_SECONDS)

    # when the buyer terminates it and the terminate task is lost on its way to the queue
    lost = record_sent_tasks(monkeypatch)
    response = api_client.post(f"/api/v1/reservations/{reservation_id}/terminate/", **buyer.headers)
    assert response.status_code == 202, response.content
    assert lost == [(TERMINATE_RESERVATION, (reservation_id,), None)]
    monkeypatch.undo()
    # ... and stays terminating past the grace (rows move: the worker's clock cannot)
    Reservation.objects.filter(pk=reservation_id).update(
        termination_asked_at=timezone.now() - timedelta(hours=1)
    )
    assert Reservation.objects.get(pk=reservation_id).status == "terminating"

    # and the beat's sweep comes by
    asked_again = timezone.now().replace(microsecond=0)
    retry_stuck_terminations.delay()

    # then the worker terminates it
    wait_until(
        lambda: Reservation.objects.filter(pk=reservation_id, status="terminated").exists(),
        what="the re-driven termination",
    )
    reservation = Reservation.objects.get(pk=reservation_id)
    assert asked_again <= reservation.ended_at <= timezone.now()

    # and bills it exactly from its start to its end, at the locked price
    line = wait_until(
        lambda: InvoiceLine.objects.filter(reservation_id=reservation_id).first(),
        what="the invoice line",
    )
    seconds = int((reservation.ended_at - started).total_seconds())
    assert seconds >= RAN_SECONDS
    assert sum(reservation.usage.values_list("seconds", flat=True)) == seconds
    cents = (Decimal(seconds) * PRICE / 3600).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert (line.seconds, line.price_per_hour, line.amount) == (seconds, PRICE, cents)

    # and another sweep has nothing left to do
    assert retry_stuck_terminations() == 0
    assert list(reservation.events.values_list("to_status", flat=True)) == [
        "pending", "launching", "running", "terminating", "terminated",
    ]  # fmt: skip
