"""The buyer's reservation pages and API detail: the state timeline, the launch attempts
(with failover), the running time, the cost so far, and the terminate button."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from accounts.models import Role
from billing.services.invoices import reservation_meter_and_invoice
from brokers.services import launch
from marketplace.models import Reservation
from marketplace.services.reservations import ReservationRequest, reservation_create
from tests.factories import (
    MembershipFactory,
    OfferFactory,
    make_org_with_key,
    reserve_with_a_failing_first_offer,
)

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 8, 3, 9, 0, 0, tzinfo=UTC)


def _failed_over_and_running(buyer) -> Reservation:
    reservation = reserve_with_a_failing_first_offer(buyer, hours=4)
    launch.launch_reservation(reservation_id=reservation.pk)
    return Reservation.objects.get(pk=reservation.pk)


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_it_shows_the_timeline_attempts_runs_and_what_is_billed_so_far(client):
    # given a reservation that failed over and has run for 90 minutes at 2.20/h
    buyer = make_org_with_key(role="buyer")
    with time_machine.travel(T0, tick=False):
        reservation = _failed_over_and_running(buyer)
    client.force_login(buyer.user)

    # when it has been metered at 90 minutes and the buyer opens its page
    with time_machine.travel(T0 + timedelta(minutes=90), tick=False):
        reservation_meter_and_invoice(reservation_id=reservation.pk)
        response = client.get(f"/reservations/{reservation.pk}/")

    # then it shows where it runs, what it costs so far, and how it got there
    assert response.status_code == 200
    text = _text(response.content.decode())
    assert "1 × H100 on Spare Cloud (spare.h100" in text
    # 1.5 h × 2.20 = 3.30 and 120 s of start-up × 2.20 = 0.07; what was quoted, at the first
    # offer's 2.00/h before the failover: 4 h × 2.00 + 120 s × 2.00 = 8.00 + 0.07
    assert "Locked price: 2.200000 USD/h · billed so far: 3.37 USD of 8.07 USD quoted" in text
    assert "Failover up to 2.500000 USD/h" in text
    assert (
        "09:00:00 launching pending No capacity: simulated cloud: insufficient capacity in zone."
        " Failing over to offer"
    ) in text
    assert "(sparecloud spare.h100 sim-us-east-1) at 2.200000/h (was 2.000000/h)." in text
    assert "09:00:00 launching running Instance is running." in text
    assert "1 fullcloud · full.h100 · sim-us-east-1 No capacity zone" in text
    assert "2 sparecloud · spare.h100 · sim-us-east-1 Succeeded —" in text
    assert "1 2026-08-03 09:00:00 running 2.200000" in text
    assert 'id="terminate"' in response.content.decode()


def test_it_terminates_from_the_page(client):
    # given a running reservation's page
    buyer = make_org_with_key(role="buyer")
    reservation = _failed_over_and_running(buyer)
    client.force_login(buyer.user)

    # when the buyer presses Terminate
    response = client.post(f"/reservations/{reservation.pk}/terminate/", follow=True)

    # then the page says so, shows the reservation terminating, and offers no second button
    html = response.content.decode()
    assert response.redirect_chain == [(f"/reservations/{reservation.pk}/", 302)]
    assert "Termination requested." in html
    assert 'id="status" role="status">terminating<' in html
    assert 'id="terminate"' not in html
    assert Reservation.objects.get(pk=reservation.pk).status == "terminating"


def test_it_lists_the_buyers_reservations(client):
    buyer = make_org_with_key(role="buyer")
    reservation = _failed_over_and_running(buyer)
    client.force_login(buyer.user)
    text = _text(client.get("/reservations/").content.decode())
    assert f"{reservation.pk} sparecloud · spare.h100 1 2.200000 running" in text


def test_the_api_detail_carries_attempts_runs_and_the_price_limit(api_client):
    buyer = make_org_with_key(role="buyer")
    with time_machine.travel(T0, tick=False):
        reservation = _failed_over_and_running(buyer)
    body = api_client.get(f"/api/v1/reservations/{reservation.pk}/", **buyer.headers).json()
    assert (body["price_per_hour"], body["max_price_per_hour"]) == ("2.200000", "2.500000")
    assert [(a["number"], a["outcome"], a["scope"]) for a in body["attempts"]] == [
        (1, "no_capacity", "zone"),
        (2, "succeeded", ""),
    ]
    assert [
        (r["number"], r["price_per_hour"], r["started_at"], r["ended_at"]) for r in body["runs"]
    ] == [(1, "2.200000", "2026-08-03T09:00:00Z", None)]


def test_it_refuses_a_price_limit_below_the_price(api_client):
    buyer = make_org_with_key(role="buyer")
    offer = OfferFactory(price_per_hour=Decimal("2.500000"), available=1)
    response = api_client.post(
        "/api/v1/reservations/",
        {"offer": offer.pk, "hours": "1", "max_price_per_hour": "2.000000"},
        format="json",
        **buyer.headers,
    )
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "price_above_limit",
        "message": "The price is 2.500000/h, above your max_price_per_hour of 2.000000.",
    }
    offer.refresh_from_db()
    assert offer.available == 1


# --- live state, polled by static/js/reservation_live.js ---------------------------------


def test_the_live_state_of_a_running_reservation(client):
    # given a reservation that failed over, runs on sim, and has been metered at 90 minutes
    buyer = make_org_with_key(role="buyer")
    with time_machine.travel(T0, tick=False):
        reservation = _failed_over_and_running(buyer)
    with time_machine.travel(T0 + timedelta(minutes=90), tick=False):
        reservation_meter_and_invoice(reservation_id=reservation.pk)
    client.force_login(buyer.user)
    connection = Reservation.objects.get(pk=reservation.pk).connection

    body = client.get(f"/reservations/{reservation.pk}/status.json").json()

    # 1.5 h × 2.20 + 120 s × 2.20 = 3.30 + 0.07, as the page says
    assert body == {
        "id": reservation.pk,
        "status": "running",
        "active": True,
        "attempts": 2,
        "cost": "3.37",
        "currency": "USD",
        "failure_reason": "",
        "connect": f"ssh {connection['user']}@{connection['host']} -p {connection['port']}",
    }


def test_the_live_state_leaves_the_connection_out_for_finance(client):
    buyer = make_org_with_key(role="buyer")
    reservation = _failed_over_and_running(buyer)
    client.force_login(MembershipFactory(org=buyer.org, role=Role.FINANCE).user)

    body = client.get(f"/reservations/{reservation.pk}/status.json").json()

    assert body["status"] == "running"
    assert "connect" not in body


def test_the_live_state_of_another_organizations_reservation_is_not_found(client):
    reservation = _failed_over_and_running(make_org_with_key(role="buyer"))
    client.force_login(make_org_with_key().user)

    assert client.get(f"/reservations/{reservation.pk}/status.json").status_code == 404
    listed = client.get(f"/reservations/status.json?ids={reservation.pk}").json()
    assert listed == {"reservations": []}


def test_the_live_state_of_a_page_of_reservations(client, django_assert_max_num_queries):
    # given three reservations of one organization, one of them terminated
    buyer = make_org_with_key(role="buyer")
    offer = OfferFactory(price_per_hour=Decimal("1.500000"), available=5)
    ids = [_reserved(buyer, offer).pk for _ in range(3)]
    Reservation.objects.filter(pk=ids[0]).update(status="terminated", cost=Decimal("0.42"))
    client.force_login(buyer.user)

    # when the list page asks for all three, and for a number that is not theirs
    with django_assert_max_num_queries(8):
        body = client.get(f"/reservations/status.json?ids={ids[0]},{ids[1]},{ids[2]},999999").json()

    # then it answers for the three, newest first
    rows = [(r["id"], r["status"], r["active"], r["cost"]) for r in body["reservations"]]
    assert rows == [
        (ids[2], "pending", True, "0.00"),
        (ids[1], "pending", True, "0.00"),
        (ids[0], "terminated", False, "0.42"),
    ]


@pytest.mark.parametrize("ids", ["x", "1,,2;3", "-1", ",".join(["1"] * 101), "9" * 30])
def test_the_live_state_refuses_what_is_not_a_list_of_numbers(client, ids):
    client.force_login(make_org_with_key().user)

    response = client.get("/reservations/status.json", {"ids": ids})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_ids"


def test_the_pages_poll_only_while_something_is_active(client):
    buyer = make_org_with_key(role="buyer")
    reservation = _failed_over_and_running(buyer)
    client.force_login(buyer.user)
    live = f'data-live-reservation="/reservations/{reservation.pk}/status.json"'
    assert live in client.get(f"/reservations/{reservation.pk}/").content.decode()

    Reservation.objects.filter(pk=reservation.pk).update(status="terminated")

    html = client.get(f"/reservations/{reservation.pk}/").content.decode()
    assert live not in html
    assert "reservation_live.js" not in html
    assert 'id="connect-line" hidden' in html


def _reserved(buyer, offer) -> Reservation:
    reservation, _ = reservation_create(
        org=buyer.org,
        user=buyer.user,
        request=ReservationRequest(offer_id=offer.pk, gpus=1, hours=Decimal(1)),
    )
    return reservation
