"""Launch, poll and terminate through the simulated cloud, called as the tasks call them.
Each step is run twice to prove a redelivered task does no harm."""

from __future__ import annotations

import pytest

from brokers.models import SimulatedInstance
from brokers.services import launch
from marketplace.models import LaunchOutcome, Reservation, ReservationStatus
from marketplace.services.reservations import (
    ReservationRequest,
    reservation_create,
    reservation_request_termination,
)
from tests.factories import OfferFactory, ProviderFactory, make_org_with_key

pytestmark = pytest.mark.django_db


def _reserve(config=None, available=2) -> Reservation:
    provider = ProviderFactory()
    provider.config = config or {}
    provider.save()
    buyer = make_org_with_key(role="buyer")
    offer = OfferFactory(provider=provider, available=available)
    reservation, _ = reservation_create(
        org=buyer.org,
        user=buyer.user,
        request=ReservationRequest(offer_id=offer.pk, gpus=1, hours=1),
    )
    return reservation


def test_it_launches_once_even_when_the_task_runs_twice():
    reservation = _reserve()
    launch.launch_reservation(reservation_id=reservation.pk)
    launch.launch_reservation(reservation_id=reservation.pk)
    reservation.refresh_from_db()
    assert reservation.status == ReservationStatus.RUNNING
    assert SimulatedInstance.objects.count() == 1
    assert list(reservation.attempts.values_list("outcome", flat=True)) == [LaunchOutcome.SUCCEEDED]


def test_it_resumes_the_open_attempt_after_a_lost_worker():
    # given a launch whose worker died after the provider accepted it (slow boot)
    reservation = _reserve(config={"latency_seconds": 3600})
    with pytest.raises(launch.PollAgain):
        launch.launch_reservation(reservation_id=reservation.pk)
    # when the message is redelivered
    with pytest.raises(launch.PollAgain):
        launch.launch_reservation(reservation_id=reservation.pk)
    # then the same instance is used, under one attempt
    assert SimulatedInstance.objects.count() == 1
    assert reservation.attempts.count() == 1
    assert (
        Reservation.objects.get(pk=reservation.pk).instance_id
        == SimulatedInstance.objects.get().instance_id
    )


def test_it_polls_a_booting_instance_until_it_runs():
    reservation = _reserve(config={"latency_seconds": 3600})
    with pytest.raises(launch.PollAgain):
        launch.launch_reservation(reservation_id=reservation.pk)
    with pytest.raises(launch.PollAgain):
        launch.poll_reservation(reservation_id=reservation.pk)
    SimulatedInstance.objects.update(ready_at="2000-01-01T00:00:00Z")
    launch.poll_reservation(reservation_id=reservation.pk)
    assert Reservation.objects.get(pk=reservation.pk).status == ReservationStatus.RUNNING


def test_it_fails_without_failover_on_permanent_errors():
    reservation = _reserve(config={"failure_rate": 1, "failure": "permanent"})
    launch.launch_reservation(reservation_id=reservation.pk)
    reservation.refresh_from_db()
    assert reservation.status == ReservationStatus.FAILED
    assert "invalid credentials" in reservation.failure_reason
    assert list(reservation.attempts.values_list("outcome", "scope")) == [
        ("permanent_error", "provider")
    ]
    assert reservation.offer.available == 2


def test_it_terminates_once_and_returns_the_capacity():
    reservation = _reserve()
    launch.launch_reservation(reservation_id=reservation.pk)
    reservation_request_termination(reservation=Reservation.objects.get(pk=reservation.pk))
    launch.terminate_reservation(reservation_id=reservation.pk)
    launch.terminate_reservation(reservation_id=reservation.pk)
    reservation.refresh_from_db()
    assert reservation.status == ReservationStatus.TERMINATED
    assert reservation.ended_at is not None
    assert SimulatedInstance.objects.get().state == "terminated"
    assert reservation.offer.available == 2
    statuses = list(reservation.events.values_list("to_status", flat=True))
    assert statuses == ["pending", "launching", "running", "terminating", "terminated"]


def test_it_stops_polling_and_terminates_an_instance_that_never_boots():
    # given an instance still booting after the provider's boot timeout
    reservation = _reserve(config={"latency_seconds": 3600, "boot_timeout_seconds": 60})
    with pytest.raises(launch.PollAgain):
        launch.launch_reservation(reservation_id=reservation.pk)
    reservation.attempts.update(started_at="2000-01-01T00:00:00Z")
    # when it is polled
    launch.poll_reservation(reservation_id=reservation.pk)
    # then the instance is terminated, the reservation failed, the capacity returned
    reservation.refresh_from_db()
    assert reservation.status == ReservationStatus.FAILED
    assert "did not finish booting" in reservation.failure_reason
    assert SimulatedInstance.objects.get().state == "terminated"
    assert list(reservation.attempts.values_list("outcome", flat=True)) == ["transient_error"]
    assert reservation.offer.available == 2
    # and a late poll does nothing more
    launch.poll_reservation(reservation_id=reservation.pk)
