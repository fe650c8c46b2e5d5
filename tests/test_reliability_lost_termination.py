"""Lost tasks at the end of a reservation, for real: the buyer's terminate request commits but
its task never reaches the queue, or the usage task queued when it ended is lost; the beat's
sweeps queue the work again, and the reservation is billed from its start to its end, once.
PostgreSQL, Redis and a Celery worker process are real; a task is lost by not sending it."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.utils import timezone

from billing.models import InvoiceLine
from billing.tasks import record_usage
from brokers.services import launch
from brokers.tasks import retry_stuck_terminations
from conftest import wait_until
from marketplace.handoff import RECORD_RESERVATION_USAGE, TERMINATE_RESERVATION
from marketplace.models import Reservation
from marketplace.services.reservations import reservation_request_termination
from marketplace.tests.provider_fixtures import record_sent_tasks
from tests.factories import OfferFactory, backdate_running, make_org_with_key

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

RAN_SECONDS = 300  # how long it ran before the buyer asked to terminate it
PRICE = Decimal("2.990000")


def _running_through_worker(api_client, buyer) -> tuple[int, datetime]:
    """A reservation the worker launched, running for RAN_SECONDS: (its id, its start)."""
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
    return reservation_id, backdate_running(reservation_id, seconds=RAN_SECONDS)


def _billed_line(reservation: Reservation, started: datetime) -> InvoiceLine:
    """The reservation's one invoice line, once the worker wrote it, checked to bill exactly
    its seconds from start to end at the locked price."""
    line = wait_until(
        lambda: InvoiceLine.objects.filter(
            reservation_id=reservation.pk, component="compute"
        ).first(),
        what="the invoice line",
    )
    seconds = int((reservation.ended_at - started).total_seconds())
    assert seconds >= RAN_SECONDS
    assert sum(reservation.usage.values_list("seconds", flat=True)) == seconds
    cents = (Decimal(seconds) * PRICE / 3600).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert (line.seconds, line.price_per_hour, line.amount) == (seconds, PRICE, cents)
    return line


def test_a_lost_terminate_task_is_queued_again_and_billed_to_the_end(
    celery_worker_process, api_client, monkeypatch
):
    # given a reservation launched and running through the worker for RAN_SECONDS
    buyer = make_org_with_key(role="buyer")
    reservation_id, started = _running_through_worker(api_client, buyer)

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
    _billed_line(reservation, started)

    # and another sweep has nothing left to do
    assert retry_stuck_terminations() == 0
    assert list(reservation.events.values_list("to_status", flat=True)) == [
        "pending", "launching", "running", "terminating", "terminated",
    ]  # fmt: skip


def test_a_lost_usage_task_is_made_up_by_the_metering_beat(
    celery_worker_process, api_client, monkeypatch
):
    # given a reservation running through the worker for RAN_SECONDS
    buyer = make_org_with_key(role="buyer")
    reservation_id, started = _running_through_worker(api_client, buyer)

    # when it is terminated here, and the usage task queued at its end is lost
    lost = record_sent_tasks(monkeypatch)
    reservation_request_termination(reservation=Reservation.objects.get(pk=reservation_id))
    launch.terminate_reservation(reservation_id=reservation_id)
    assert [name for name, _, _ in lost] == [TERMINATE_RESERVATION, RECORD_RESERVATION_USAGE]
    monkeypatch.undo()
    reservation = Reservation.objects.get(pk=reservation_id)
    assert reservation.status == "terminated"
    assert not reservation.usage.exists()

    # and the metering beat comes by
    record_usage.delay()

    # then the worker bills it exactly from its start to its end, and the next beat finds
    # nothing more to meter
    _billed_line(reservation, started)
    assert record_usage() == 0
    assert reservation.usage.count() == 1
