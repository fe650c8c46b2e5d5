"""Funds are checked atomically with the capacity take: concurrent reservations of one
organization cannot both spend its last dollars. Real concurrent requests through the API,
each thread on its own PostgreSQL connection, released together by a barrier (as the
capacity test, marketplace/tests/test_reservation_concurrency.py)."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connections
from rest_framework.test import APIClient

from billing.services.ledger import ledger_post_top_up
from marketplace.models import Offer, Reservation
from marketplace.services import reservations as reservation_services
from tests.factories import OfferFactory, make_org_with_key

pytestmark = pytest.mark.django_db(transaction=True)

ONE_HOUR = Decimal("2.58")  # 2.50 of compute + 0.08 of billed start-up, for 1 h at 2.50/h


@pytest.fixture
def queued_launches(monkeypatch):
    """The launch hand-offs, recorded instead of sent (a worker left running by an earlier
    test must not launch these while the tables are truncated under it)."""
    queued = []
    monkeypatch.setattr(
        reservation_services, "enqueue_on_commit", lambda task, *args, **kw: queued.append(args)
    )
    return queued


def _post_all_at_once(headers: dict, bodies: list[dict]) -> list[tuple[int, dict]]:
    barrier = threading.Barrier(len(bodies))

    def post(body: dict) -> tuple[int, dict]:
        try:
            client = APIClient()
            barrier.wait(timeout=30)
            response = client.post("/api/v1/reservations/", body, format="json", **headers)
            return response.status_code, response.json()
        finally:
            connections.close_all()  # this thread's connection, not left for the test DB flush

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(post, bodies))


@pytest.mark.parametrize("round_number", range(3))
def test_two_concurrent_reservations_cannot_both_spend_the_last_dollars(
    round_number, settings, queued_launches
):
    # given an organization whose funds cover exactly one hour, and two offers with room
    settings.ORG_CREDIT_LIMIT = Decimal(0)
    buyer = make_org_with_key(role="buyer")
    ledger_post_top_up(org=buyer.org, amount=ONE_HOUR, currency="USD", source_id="one-hour")
    offers = [OfferFactory(available=4), OfferFactory(available=4)]

    # when it reserves an hour of each at the same moment
    results = _post_all_at_once(
        buyer.headers, [{"offer": offer.pk, "hours": "1"} for offer in offers]
    )

    # then one is reserved and the other refused, never both
    assert Counter(status for status, _ in results) == {201: 1, 402: 1}
    refused = next(body for status, body in results if status == 402)
    assert (refused["error"]["code"], refused["error"]["available"]) == (
        "insufficient_funds",
        "0.00",
    )
    assert Reservation.objects.filter(org=buyer.org).count() == 1
    assert sum(Offer.objects.get(pk=offer.pk).available for offer in offers) == 7
    assert len(queued_launches) == 1


def test_many_concurrent_reservations_spend_exactly_the_funds(settings, queued_launches):
    # given funds for exactly 3 hours and 12 requests of an hour each, on one offer with room
    settings.ORG_CREDIT_LIMIT = Decimal(0)
    buyer = make_org_with_key(role="buyer")
    ledger_post_top_up(org=buyer.org, amount=3 * ONE_HOUR, currency="USD", source_id="three")
    offer = OfferFactory(available=12)

    # when they all arrive at once
    results = _post_all_at_once(buyer.headers, [{"offer": offer.pk, "hours": "1"}] * 12)

    # then exactly 3 are reserved
    assert Counter(status for status, _ in results) == {201: 3, 402: 9}
    assert Reservation.objects.filter(org=buyer.org).count() == 3
    assert Offer.objects.get(pk=offer.pk).available == 9
