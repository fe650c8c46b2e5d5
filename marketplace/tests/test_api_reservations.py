from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from marketplace.models import Offer, Reservation
from tests.factories import OfferFactory, make_org_with_key

pytestmark = pytest.mark.django_db


def _reserve(client, keyed, body, **headers):
    return client.post("/api/v1/reservations/", body, format="json", **keyed.headers, **headers)


def test_it_reserves_an_offer_locking_its_price_and_taking_capacity(api_client):
    buyer = make_org_with_key(role="buyer")
    offer = OfferFactory(gpu_count=2, price_per_hour=Decimal("5.000000"), available=3)
    response = _reserve(api_client, buyer, {"offer": offer.pk, "gpus": 4, "hours": "1.5"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["gpus"], body["units"], body["price_per_hour"]) == (
        "pending",
        4,
        2,
        "10.000000",
    )
    offer.refresh_from_db()
    assert offer.available == 1
    Offer.objects.filter(pk=offer.pk).update(price_per_hour=Decimal("99"))
    assert Reservation.objects.get(pk=body["id"]).price_per_hour == Decimal("10.000000")


def test_it_answers_409_when_capacity_is_gone(api_client):
    buyer = make_org_with_key(role="buyer")
    offer = OfferFactory(available=1)
    assert _reserve(api_client, buyer, {"offer": offer.pk, "hours": 1}).status_code == 201
    response = _reserve(api_client, buyer, {"offer": offer.pk, "hours": 1})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "capacity_unavailable"


def test_it_honours_idempotency_keys(api_client):
    buyer = make_org_with_key(role="buyer")
    offer = OfferFactory(available=5)
    first = _reserve(api_client, buyer, {"offer": offer.pk, "hours": 1}, HTTP_IDEMPOTENCY_KEY="k1")
    again = _reserve(api_client, buyer, {"offer": offer.pk, "hours": 1}, HTTP_IDEMPOTENCY_KEY="k1")
    assert first.status_code == 201 and again.status_code == 201
    assert "Idempotent-Replayed" not in first and again["Idempotent-Replayed"] == "true"
    assert first.json()["id"] == again.json()["id"]
    offer.refresh_from_db()
    assert offer.available == 4
    other = _reserve(api_client, buyer, {"offer": offer.pk, "hours": 2}, HTTP_IDEMPOTENCY_KEY="k1")
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_conflict"


def test_it_refuses_an_idempotency_key_with_control_characters(api_client):
    # given a key with a NUL byte, which PostgreSQL cannot store (it was a 500)
    buyer = make_org_with_key(role="buyer")
    offer = OfferFactory(available=1)
    # when the buyer reserves with it
    body = {"offer": offer.pk, "hours": 1}
    response = _reserve(api_client, buyer, body, HTTP_IDEMPOTENCY_KEY="k1\x00")
    # then nothing is reserved, and the error says why
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_idempotency_key"
    assert not Reservation.objects.exists()
    offer.refresh_from_db()
    assert offer.available == 1


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"offer": "abc", "hours": 1}, "validation_error"),
        ({"offer": -3, "hours": 1}, "validation_error"),
        ({"offer": 1, "hours": -1}, "validation_error"),
        ({"offer": 1, "hours": "NaN"}, "validation_error"),
        ({"offer": 1, "hours": 1, "gpus": 0}, "validation_error"),
        ({"offer": 1}, "validation_error"),
        ({}, "validation_error"),
        ({"offer": 1, "hours": 1, "colour": "red"}, "unknown_field"),
        ({"quote": "not-a-uuid"}, "validation_error"),
        ({"offer": 1, "hours": 10**9}, "validation_error"),
    ],
)
def test_it_answers_bad_reservation_input_with_a_4xx(api_client, body, code):
    buyer = make_org_with_key(role="buyer")
    response = _reserve(api_client, buyer, body)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == code


def test_it_answers_404_for_unknown_offers_and_400_for_bad_gpu_counts(api_client):
    buyer = make_org_with_key(role="buyer")
    response = _reserve(api_client, buyer, {"offer": 999999, "hours": 1})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    offer = OfferFactory(gpu_count=8)
    response = _reserve(api_client, buyer, {"offer": offer.pk, "hours": 1, "gpus": 3})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_gpus"


def test_it_keeps_organizations_apart(api_client):
    alice, mallory = make_org_with_key(role="buyer"), make_org_with_key(role="owner")
    offer = OfferFactory(available=2)
    reservation_id = _reserve(api_client, alice, {"offer": offer.pk, "hours": 1}).json()["id"]
    assert api_client.get("/api/v1/reservations/", **mallory.headers).json()["results"] == []
    for method, path in (
        ("get", f"/api/v1/reservations/{reservation_id}/"),
        ("post", f"/api/v1/reservations/{reservation_id}/terminate/"),
    ):
        response = getattr(api_client, method)(path, **mallory.headers)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert Reservation.objects.get(pk=reservation_id).status == "pending"
    mine = api_client.get("/api/v1/reservations/", **alice.headers).json()["results"]
    assert [r["id"] for r in mine] == [reservation_id]


def test_it_lets_only_buying_roles_reserve(api_client):
    finance = make_org_with_key(role="finance")
    offer = OfferFactory()
    response = _reserve(api_client, finance, {"offer": offer.pk, "hours": 1})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_it_terminates_a_pending_reservation_at_once_and_returns_capacity(api_client):
    buyer = make_org_with_key(role="buyer")
    offer = OfferFactory(available=1)
    reservation_id = _reserve(api_client, buyer, {"offer": offer.pk, "hours": 1}).json()["id"]
    response = api_client.post(f"/api/v1/reservations/{reservation_id}/terminate/", **buyer.headers)
    assert response.status_code == 202
    assert response.json()["status"] == "terminated"
    offer.refresh_from_db()
    assert offer.available == 1
    again = api_client.post(f"/api/v1/reservations/{reservation_id}/terminate/", **buyer.headers)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "invalid_state"


def _running_with_connection(org) -> Reservation:
    reservation = Reservation.objects.create(
        org=org, offer=OfferFactory(), gpus=1, units=1, hours=Decimal(2),
        price_per_hour=Decimal("2.500000"), reserved_until=timezone.now(),
    )  # fmt: skip
    Reservation.objects.filter(pk=reservation.pk).update(
        status="running", connection={"host": "gpu-7.example.net", "user": "trainer", "port": 22}
    )
    return reservation


@pytest.mark.parametrize(("role", "shown"), [("buyer", True), ("admin", True), ("finance", False)])
def test_only_roles_that_may_connect_read_the_connection_details(api_client, role, shown):
    # given a running reservation, and a key of its organization with the role
    owner = make_org_with_key(role="owner")
    reservation = _running_with_connection(owner.org)
    keyed = make_org_with_key(role=role, org=owner.org)
    connection = {"host": "gpu-7.example.net", "user": "trainer", "port": 22} if shown else {}

    # when it reads the reservation and the list
    detail = api_client.get(f"/api/v1/reservations/{reservation.pk}/", **keyed.headers)
    listed = api_client.get("/api/v1/reservations/", **keyed.headers)

    # then finance reads everything but how to reach the instance
    assert detail.status_code == 200
    assert detail.json()["connection"] == connection
    assert detail.json()["status"] == "running"
    assert [r["connection"] for r in listed.json()["results"]] == [connection]
