"""GET /api/v1/provider/launch-requests/: providers without a webhook poll for work."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from marketplace.services.launch_requests import launch_request_open, launch_requests_close
from marketplace.tests.provider_fixtures import (
    make_listed_offer,
    make_listed_provider,
    reserve_launching,
)

pytestmark = pytest.mark.django_db

URL = "/api/v1/provider/launch-requests/"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def open_request(reservation, kind="launch", key=None):
    request, _ = launch_request_open(
        reservation=reservation,
        kind=kind,
        key=key or f"{kind}-{reservation.pk}",
        payload={"reservation": reservation.pk, "units": reservation.units},
        answer_by=T0 + timedelta(minutes=10),
    )
    return request


def test_it_lists_open_requests_oldest_first_as_the_webhook_documents(api_client):
    # given two launch requests, one already answered
    seller = make_listed_provider()
    offer = make_listed_offer(seller.provider)
    with time_machine.travel(T0, tick=False):
        first = open_request(reserve_launching(offer))
        second = open_request(reserve_launching(offer))
    launch_requests_close(reservation_id=first.reservation_id, kinds=["launch"])

    # when the provider polls
    response = api_client.get(URL, **seller.headers)

    # then it sees the open one, with the document a webhook would carry
    assert response.status_code == 200
    assert response.json() == {
        "results": [
            {
                "id": second.pk,
                "type": "launch",
                "created_at": "2026-03-02T09:00:00Z",
                "answer_by": "2026-03-02T09:10:00Z",
                "reservation": second.reservation_id,
                "units": 1,
                "status": "pending",
                "delivery_attempts": 0,
                "delivered_at": None,
                "last_error": "",
            }
        ],
        "next": None,
    }
    answered = api_client.get(URL, {"status": "acknowledged"}, **seller.headers).json()
    assert [r["id"] for r in answered["results"]] == [first.pk]


def test_it_pages_and_validates_its_parameters(api_client):
    seller = make_listed_provider()
    offer = make_listed_offer(seller.provider, available=10)
    ids = [open_request(reserve_launching(offer)).pk for _ in range(5)]

    with CaptureQueriesContext(connection) as queries:
        page = api_client.get(URL, {"limit": 2}, **seller.headers).json()
    first_page_queries = [q["sql"] for q in queries]  # before the next request clears the log
    rest = api_client.get(URL, {"limit": 5, "cursor": page["next"]}, **seller.headers).json()

    assert [r["id"] for r in page["results"] + rest["results"]] == ids
    # the key (with its org and owner), its first-use stamp, the page (providers inside it)
    assert len(first_page_queries) == 3, first_page_queries
    for params, code in (
        ({"status": "lost"}, "invalid_status"),
        ({"limit": 0}, "invalid_limit"),
        ({"cursor": "nope"}, "invalid_cursor"),
        ({"limit": "²"}, "invalid_limit"),
        ({"cursor": base64.urlsafe_b64encode(b"[" * 5000).decode()}, "invalid_cursor"),
    ):
        response = api_client.get(URL, params, **seller.headers)
        assert (response.status_code, response.json()["error"]["code"]) == (400, code)
    for slug in ("someone-else", "acme\x00"):
        unknown = api_client.get(URL, {"provider": slug}, **seller.headers)
        assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "not_found")
