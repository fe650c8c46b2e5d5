"""The `listed` launcher: a reservation of a provider-listed offer becomes a launch request,
waits for the provider's events (never polled), and is terminated on the provider's word,
or when the provider does not answer in time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from brokers.launchers import listed
from brokers.launchers.base import InstanceState
from brokers.registry import get_launcher
from brokers.services import launch
from marketplace.models import (
    LaunchOutcome,
    LaunchRequest,
    Offer,
    Reservation,
    ReservationStatus,
)
from marketplace.services.provider_events import ProviderEventInput, provider_event_apply
from marketplace.services.reservations import reservation_request_termination
from marketplace.tests.provider_fixtures import (
    make_listed_offer,
    make_listed_provider,
    record_sent_tasks,
    reserve,
)

pytestmark = pytest.mark.django_db

S = ReservationStatus
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CONNECTION = {"host": "gpu-7.acme.example", "port": 22, "user": "root"}


@pytest.fixture
def sent(monkeypatch):
    return record_sent_tasks(monkeypatch)


def launched(*, webhook_url: str = "https://acme.example/hooks", config=None):
    """A reservation of a listed offer, after the launch task ran."""
    seller = make_listed_provider(webhook_url=webhook_url)
    if config:
        seller.provider.config = config
        seller.provider.save()
    offer = make_listed_offer(seller.provider, available=2)
    reservation = reserve(offer)
    launch.launch_reservation(reservation_id=reservation.pk)
    return seller, Reservation.objects.get(pk=reservation.pk)


def report(reservation, event_type, event_id=None, **fields):
    reservation = Reservation.objects.select_related("offer").get(pk=reservation.pk)
    event = ProviderEventInput(event_id=event_id or event_type, type=event_type, **fields)
    return provider_event_apply(reservation=reservation, event=event)


def test_it_files_one_launch_request_and_waits_without_polling(
    sent, django_capture_on_commit_callbacks
):
    with time_machine.travel(T0, tick=False):
        # given a reservation of a listed offer
        seller = make_listed_provider(webhook_url="https://acme.example/hooks")
        offer = make_listed_offer(seller.provider, sku="acme.h100x1", available=2)
        reservation = reserve(offer)

        # when the launch task runs, and runs again (a redelivered message)
        with django_capture_on_commit_callbacks(execute=True):
            launch.launch_reservation(reservation_id=reservation.pk)  # no PollAgain
            launch.launch_reservation(reservation_id=reservation.pk)

    # then there is one request for the provider, and the reservation waits in `launching`
    reservation.refresh_from_db()
    assert (reservation.status, reservation.instance_id) == (
        S.LAUNCHING,
        f"listed-{reservation.pk}",
    )
    assert list(reservation.attempts.values_list("outcome", flat=True)) == [LaunchOutcome.STARTED]
    request = LaunchRequest.objects.get()
    assert (request.kind, request.status, request.key) == (
        "launch",
        "pending",
        f"reservation-{reservation.pk}-attempt-1",
    )
    assert request.answer_by == T0 + timedelta(seconds=600)
    assert request.payload == {
        "provider": "acme-gpus",
        "reservation": reservation.pk,
        "offer": {
            "id": offer.pk,
            "sku": "acme.h100x1",
            "region": "sim-us-east-1",
            "pricing": "on_demand",
            "gpu": "H100",
            "gpu_count": 1,
        },
        "units": 1,
        "gpus": 1,
        "hours": "1.0000",
        "reserved_until": "2026-03-02T10:00:00Z",
        "idempotency_key": f"reservation-{reservation.pk}-attempt-1",
        "ssh_public_key": "",
        "events_url": f"/api/v1/provider/reservations/{reservation.pk}/events/",
    }
    # the webhook is queued once, and the deadline check at the deadline
    assert sent == [
        ("brokers.deliver_launch_request", (request.pk,), None),
        ("brokers.expire_launch_request", (request.pk,), 601.0),
    ]


def test_it_does_not_queue_a_webhook_for_a_provider_that_polls(
    sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        launched(webhook_url="")
    assert [name for name, _, _ in sent] == [
        "brokers.launch_reservation",  # from reserving
        "brokers.expire_launch_request",
    ]


def test_it_reads_the_instance_state_from_the_providers_events():
    _, reservation = launched()
    launcher = get_launcher("listed")
    assert launcher.poll(reservation.instance_id).state == InstanceState.PENDING
    report(reservation, "running", connection=CONNECTION)
    status = launcher.poll(reservation.instance_id)
    assert (status.state, status.connection) == (InstanceState.RUNNING, CONNECTION)


def test_it_waits_for_the_providers_word_to_end_a_running_instance(
    sent, django_capture_on_commit_callbacks
):
    # given a running reservation the buyer asks to terminate
    with time_machine.travel(T0, tick=False):
        _, reservation = launched()
        report(reservation, "running", connection=CONNECTION)
    with time_machine.travel(T0 + timedelta(minutes=20), tick=False):
        reservation_request_termination(reservation=reservation)

        # when the terminate task runs (twice)
        with django_capture_on_commit_callbacks(execute=True):
            launch.terminate_reservation(reservation_id=reservation.pk)
            launch.terminate_reservation(reservation_id=reservation.pk)

    # then the provider is asked once, and the reservation waits in `terminating`
    assert Reservation.objects.get(pk=reservation.pk).status == S.TERMINATING
    request = LaunchRequest.objects.get(kind="terminate")
    assert (request.status, request.payload["instance_ran"]) == ("pending", True)
    assert [name for name, _, _ in sent] == [
        "brokers.deliver_launch_request",
        "brokers.expire_launch_request",
    ]

    # when the provider confirms
    with time_machine.travel(T0 + timedelta(minutes=21), tick=False):
        report(reservation, "terminated", at=T0 + timedelta(minutes=20, seconds=40))

    # then it ends at the provider's time and the request is answered
    reservation.refresh_from_db()
    assert (reservation.status, reservation.ended_at) == (
        S.TERMINATED,
        T0 + timedelta(minutes=20, seconds=40),
    )
    request.refresh_from_db()
    assert request.status == "acknowledged"


def test_it_ends_a_reservation_that_never_ran_at_once_and_tells_the_provider():
    # given a launch the provider has not confirmed
    _, reservation = launched()
    offer = Offer.objects.get(pk=reservation.offer_id)

    # when the buyer terminates it
    reservation_request_termination(reservation=reservation)
    launch.terminate_reservation(reservation_id=reservation.pk)

    # then it is terminated now, unbilled, its capacity back; the provider is told to drop it
    reservation.refresh_from_db()
    assert (reservation.status, reservation.running_since) == (S.TERMINATED, None)
    assert Offer.objects.get(pk=offer.pk).available == offer.available + 1
    requests = dict(LaunchRequest.objects.values_list("kind", "status"))
    assert requests == {"launch": "cancelled", "terminate": "pending"}
    assert LaunchRequest.objects.get(kind="terminate").payload["instance_ran"] is False


def test_it_gives_up_a_launch_the_provider_never_answers():
    # given a launch request with a 60 s deadline
    with time_machine.travel(T0, tick=False):
        _, reservation = launched(config={"answer_within_seconds": 60})
    request = LaunchRequest.objects.get()

    # when the deadline check runs early, then on time
    with (
        time_machine.travel(T0 + timedelta(seconds=30), tick=False),
        pytest.raises(launch.NotDueYet),
    ):
        launch.launch_request_give_up(launch_request_id=request.pk)
    with time_machine.travel(T0 + timedelta(seconds=61), tick=False):
        launch.launch_request_give_up(launch_request_id=request.pk)
        launch.launch_request_give_up(launch_request_id=request.pk)  # twice: harmless

    # then the reservation failed with the attempt recorded, and the provider is told to stop
    reservation.refresh_from_db()
    assert reservation.status == S.FAILED
    assert "acme-gpus did not confirm the launch within 60 s" in reservation.failure_reason
    assert list(reservation.attempts.values_list("outcome", flat=True)) == [
        LaunchOutcome.TRANSIENT_ERROR
    ]
    assert dict(LaunchRequest.objects.values_list("kind", "status")) == {
        "launch": "expired",
        "terminate": "pending",
    }


def test_it_keeps_a_launch_the_provider_answered_in_time():
    with time_machine.travel(T0, tick=False):
        _, reservation = launched(config={"answer_within_seconds": 60})
        report(reservation, "running", connection=CONNECTION)
    with time_machine.travel(T0 + timedelta(seconds=61), tick=False):
        launch.launch_request_give_up(launch_request_id=LaunchRequest.objects.get().pk)
    assert Reservation.objects.get(pk=reservation.pk).status == S.RUNNING
    assert LaunchRequest.objects.get().status == "acknowledged"


def test_it_ends_a_termination_the_provider_never_confirms_at_the_time_it_was_asked():
    # given a running reservation whose termination the provider does not confirm
    with time_machine.travel(T0, tick=False):
        _, reservation = launched(config={"answer_within_seconds": 120})
        report(reservation, "running", connection=CONNECTION)
    with time_machine.travel(T0 + timedelta(minutes=30), tick=False):
        reservation_request_termination(reservation=reservation)
        launch.terminate_reservation(reservation_id=reservation.pk)

    # when the deadline passes
    with time_machine.travel(T0 + timedelta(minutes=33), tick=False):
        launch.launch_request_give_up(
            launch_request_id=LaunchRequest.objects.get(kind="terminate").pk
        )

    # then it is terminated as of the request: the buyer pays 30 minutes, not 33
    reservation.refresh_from_db()
    assert (reservation.status, reservation.ended_at) == (S.TERMINATED, T0 + timedelta(minutes=30))
    assert "did not confirm the termination" in reservation.events.last().message


@pytest.mark.parametrize(
    ("raw", "seconds"), [(None, 600), (5, 10), ("90", 90), (10**9, 86_400), ("soon", 600)]
)
def test_it_keeps_the_answer_deadline_within_bounds(raw, seconds):
    options = {} if raw is None else {"answer_within_seconds": raw}
    assert listed.answer_within(options) == seconds
