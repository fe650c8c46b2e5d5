"""A worker killed in the middle of a launch: the launch task is `acks_late` and
`reject_on_worker_lost`, so its message comes back, and the launch finishes exactly once.

The simulated cloud's launch call takes a few seconds after the cloud accepted it
(`launch_call_seconds`): the instance exists, but the worker has not heard its id yet. A
naive retry would start a second one; ours finds it by the attempt's idempotency key.

Real processes throughout: PostgreSQL, Redis and `celery worker` processes of their own,
on a queue of their own, killed with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import uuid
from decimal import Decimal

import psutil
import pytest

from brokers.models import SimulatedInstance
from config.celery import app
from conftest import wait_until
from marketplace.models import Offer, Reservation
from marketplace.services import reservations as reservation_services
from marketplace.services.reservations import ReservationRequest, reservation_create
from tests.factories import OfferFactory, ProviderFactory, make_org_with_key

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

LAUNCH_CALL_SECONDS = 5


@pytest.fixture
def queue() -> str:
    return f"reliability-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def slow_launch_reservation(monkeypatch) -> Reservation:
    """A reservation on a cloud whose launch call is slow. Its launch hand-off is held back
    so that the test sends the task to its own workers' queue."""
    monkeypatch.setattr(reservation_services, "enqueue_on_commit", lambda *a, **kw: None)
    provider = ProviderFactory()
    provider.config = {"launch_call_seconds": LAUNCH_CALL_SECONDS}
    provider.save()
    offer = OfferFactory(provider=provider, available=2)
    buyer = make_org_with_key(role="buyer")
    reservation, _ = reservation_create(
        org=buyer.org,
        user=buyer.user,
        request=ReservationRequest(offer_id=offer.pk, gpus=1, hours=Decimal(1)),
    )
    return reservation


def _send_launch(reservation: Reservation, queue: str) -> None:
    app.send_task("brokers.launch_reservation", args=[reservation.pk], queue=queue)


def _wait_mid_launch(reservation: Reservation) -> SimulatedInstance:
    instance = wait_until(
        lambda: SimulatedInstance.objects.first(), timeout=30, what="the cloud to accept"
    )
    current = Reservation.objects.get(pk=reservation.pk)
    # the cloud has the instance; the worker is still inside the launch call
    assert (current.status, current.instance_id) == ("launching", "")
    return instance


def _assert_launched_once(reservation: Reservation, instance: SimulatedInstance) -> None:
    running = wait_until(
        lambda: Reservation.objects.filter(pk=reservation.pk, status="running").first(),
        timeout=40,
        what="the redelivered launch to finish",
    )
    assert list(SimulatedInstance.objects.values_list("instance_id", flat=True)) == [
        instance.instance_id
    ]
    assert running.instance_id == instance.instance_id
    assert running.connection["host"] == f"{instance.instance_id}.sim.invalid"
    assert list(running.attempts.values_list("number", "outcome")) == [(1, "succeeded")]
    assert list(running.events.values_list("to_status", flat=True)) == [
        "pending",
        "launching",
        "running",
    ]
    assert list(running.runs.values_list("number", "instance_id")) == [(1, instance.instance_id)]
    assert Offer.objects.get(pk=reservation.offer_id).available == 1


def test_it_launches_once_when_the_whole_worker_is_killed_mid_launch(
    celery_worker_factory, queue, slow_launch_reservation
):
    # given a worker inside a slow launch call
    doomed = celery_worker_factory(queue=queue)
    _send_launch(slow_launch_reservation, queue)
    instance = _wait_mid_launch(slow_launch_reservation)

    # when the worker and its pool are killed outright, and a new worker starts (with a short
    # visibility timeout and a look for such messages every second, so Redis hands it the
    # unacknowledged message at once)
    os.killpg(doomed.pid, signal.SIGKILL)
    doomed.wait(timeout=10)
    celery_worker_factory(
        queue=queue, env={"CELERY_VISIBILITY_TIMEOUT": "1", "CELERY_UNACKED_RESTORE_SECONDS": "1"}
    )

    # then the new worker finishes the same launch: one instance, one attempt, running
    _assert_launched_once(slow_launch_reservation, instance)


def test_it_launches_once_when_the_pool_process_is_killed_mid_launch(
    celery_worker_factory, queue, slow_launch_reservation
):
    # given a worker whose pool process is inside a slow launch call
    worker = celery_worker_factory(queue=queue)
    _send_launch(slow_launch_reservation, queue)
    instance = _wait_mid_launch(slow_launch_reservation)

    # when that pool process is killed (the OOM killer's way)
    (child,) = psutil.Process(worker.pid).children()
    child.send_signal(signal.SIGKILL)

    # then the worker gets the message back (reject_on_worker_lost) and finishes it once
    _assert_launched_once(slow_launch_reservation, instance)
    assert worker.poll() is None
