"""The same provider event sent many times at once (a provider retrying eagerly, two
deliveries racing): applied once, on PostgreSQL with real concurrent connections."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from rest_framework.test import APIClient

from marketplace.models import ProviderEvent, Reservation, ReservationEvent
from marketplace.tests.provider_fixtures import (
    make_listed_offer,
    make_listed_provider,
    record_sent_tasks,
    reserve_launching,
)

pytestmark = pytest.mark.django_db(transaction=True)

SENDERS = 8


def _post_all_at_once(url: str, bodies: list[dict], headers: dict) -> list:
    barrier = threading.Barrier(len(bodies))

    def send(body):
        client = APIClient()
        barrier.wait()
        try:
            return client.post(url, body, format="json", **headers)
        finally:
            connection.close()  # each thread has its own connection

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(send, bodies))


def test_it_applies_a_duplicate_sent_concurrently_exactly_once(monkeypatch):
    # given a reservation waiting for the provider
    record_sent_tasks(monkeypatch)
    seller = make_listed_provider()
    reservation = reserve_launching(make_listed_offer(seller.provider))
    url = f"/api/v1/provider/reservations/{reservation.pk}/events/"
    body = {"id": "ev-1", "type": "running", "connection": {"host": "gpu-1"}}

    # when the same event arrives from several connections at once
    responses = _post_all_at_once(url, [body] * SENDERS, seller.headers)

    # then every sender gets 200 and the same result, and it was applied once
    assert [r.status_code for r in responses] == [200] * SENDERS
    bodies = [r.json() for r in responses]
    assert sorted(b["duplicate"] for b in bodies) == [False] + [True] * (SENDERS - 1)
    assert len({(b["reservation"]["running_since"], b["event"]["at"]) for b in bodies}) == 1
    assert ProviderEvent.objects.count() == 1
    assert (
        ReservationEvent.objects.filter(reservation=reservation, to_status="running").count() == 1
    )
    assert Reservation.objects.get(pk=reservation.pk).status == "running"


def test_it_lets_one_of_two_racing_events_win_and_refuses_the_other(monkeypatch):
    # given a running reservation
    record_sent_tasks(monkeypatch)
    seller = make_listed_provider()
    reservation = reserve_launching(make_listed_offer(seller.provider))
    url = f"/api/v1/provider/reservations/{reservation.pk}/events/"
    APIClient().post(
        url,
        {"id": "run", "type": "running", "connection": {"host": "h"}},
        format="json",
        **seller.headers,
    )

    # when `preempted` and `terminated` race
    responses = _post_all_at_once(
        url,
        [{"id": "pre", "type": "preempted"}, {"id": "end", "type": "terminated"}],
        seller.headers,
    )

    # then exactly one applies; the other finds the reservation already ended
    codes = sorted(r.status_code for r in responses)
    assert codes == [200, 409]
    winner = next(r for r in responses if r.status_code == 200).json()
    loser = next(r for r in responses if r.status_code == 409).json()
    assert loser["error"]["code"] == "invalid_transition"
    assert loser["error"]["status"] == winner["reservation"]["status"]
    assert Reservation.objects.get(pk=reservation.pk).status == winner["reservation"]["status"]
    assert ProviderEvent.objects.count() == 2  # running + the winner
