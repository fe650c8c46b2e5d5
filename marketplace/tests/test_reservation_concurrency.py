"""Capacity is taken atomically: with N units left and many buyers at once, exactly N get
a reservation and the rest a 409, never an oversold offer. Real concurrent requests through
the API, each thread on its own PostgreSQL connection, released together by a barrier."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections
from rest_framework.test import APIClient

from marketplace.models import Offer, Reservation
from marketplace.services import reservations as reservation_services
from tests.factories import OfferFactory, make_org_with_key

pytestmark = pytest.mark.django_db(transaction=True)

REQUESTS = 50
UNITS = 8
ROUNDS = 3


@pytest.fixture
def queued_launches(monkeypatch):
    """The launch hand-offs, recorded instead of sent: this test is about capacity, and a
    worker left running by an earlier test must not launch these while the tables are
    truncated under it. (The hand-off itself is covered by the worker tests.)"""
    queued = []
    monkeypatch.setattr(
        reservation_services, "enqueue_on_commit", lambda task, *args, **kw: queued.append(args)
    )
    return queued


def _post_all_at_once(headers_per_request: list[dict], body: dict) -> list[tuple[int, dict]]:
    barrier = threading.Barrier(len(headers_per_request))

    def post(headers: dict) -> tuple[int, dict]:
        try:
            client = APIClient()
            barrier.wait(timeout=30)
            response = client.post("/api/v1/reservations/", body, format="json", **headers)
            replayed = response.get("Idempotent-Replayed") == "true"
            return response.status_code, response.json() | {"replayed": replayed}
        finally:
            connections.close_all()  # this thread's connection, not left for the test DB flush

    with ThreadPoolExecutor(max_workers=len(headers_per_request)) as pool:
        return list(pool.map(post, headers_per_request))


@pytest.mark.parametrize("round_number", range(ROUNDS))
def test_it_sells_exactly_the_units_left_to_concurrent_buyers(round_number, queued_launches):
    # given an offer with 8 units left, and 50 buyers' requests for one each
    buyer = make_org_with_key(role="buyer")
    offer = OfferFactory(available=UNITS)

    # when they all arrive at once
    results = _post_all_at_once([buyer.headers] * REQUESTS, {"offer": offer.pk, "hours": "1"})

    # then exactly 8 get a reservation and 42 are told the capacity is gone
    statuses = Counter(status for status, _ in results)
    assert statuses == {201: UNITS, 409: REQUESTS - UNITS}
    errors = {body["error"]["code"] for status, body in results if status == 409}
    assert errors == {"capacity_unavailable"}
    created = sorted(body["id"] for status, body in results if status == 201)
    assert sorted(Reservation.objects.filter(offer=offer).values_list("pk", flat=True)) == created
    assert Offer.objects.get(pk=offer.pk).available == 0
    assert sorted(args[0] for args in queued_launches) == created


def test_it_creates_one_reservation_for_concurrent_requests_with_one_idempotency_key(
    queued_launches,
):
    # given 20 retries of one request, all with the same Idempotency-Key, arriving at once
    buyer = make_org_with_key(role="buyer")
    offer = OfferFactory(available=UNITS)
    headers = {**buyer.headers, "HTTP_IDEMPOTENCY_KEY": "order-42"}

    # when they arrive
    results = _post_all_at_once([headers] * 20, {"offer": offer.pk, "hours": "1"})

    # then one created it and the others got the same reservation back, marked as replays
    assert Counter((status, body["replayed"]) for status, body in results) == {
        (201, False): 1,
        (201, True): 19,
    }
    assert len({body["id"] for _, body in results}) == 1
    assert Reservation.objects.filter(org=buyer.org).count() == 1
    assert Offer.objects.get(pk=offer.pk).available == UNITS - 1
    assert len(queued_launches) == 1
