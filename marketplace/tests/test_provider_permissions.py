"""Object permissions of every provider endpoint, as one table: the provider's own key,
another provider's key, buyer keys (of the same organization and of the reserving one)
and no key. Only the own key sees or changes the provider's offers and reservations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.utils import timezone

from marketplace.models import LaunchRequest, Offer, Provider, Reservation
from marketplace.services.launch_requests import launch_request_open
from marketplace.tests.provider_fixtures import (
    make_listed_offer,
    make_listed_provider,
    reserve_launching,
)
from tests.factories import make_org_with_key

pytestmark = pytest.mark.django_db

NEW_OFFER = {
    "sku": "new.l4x1",
    "gpu": "L4",
    "gpu_count": 1,
    "region": "us-east-1",
    "price_per_hour": "0.5",
    "available": 1,
}


@dataclass
class World:
    own: object
    other: object
    offer: Offer
    reservation: Reservation
    request: LaunchRequest
    headers: dict


@pytest.fixture
def world():
    own = make_listed_provider(slug="own-gpus")
    other = make_listed_provider(slug="other-gpus")
    other_reservation = reserve_launching(make_listed_offer(other.provider, sku="other.h100"))
    launch_request_open(
        reservation=other_reservation,
        kind="launch",
        key="other-launch",
        payload={"provider": "other-gpus"},
        answer_by=timezone.now() + timedelta(hours=1),
    )
    offer = make_listed_offer(own.provider, sku="own.h100", available=3)
    reserving_buyer = make_org_with_key(role="buyer")
    reservation = reserve_launching(offer, buyer=reserving_buyer)
    request, _ = launch_request_open(
        reservation=reservation,
        kind="launch",
        key="own-launch",
        payload={"provider": "own-gpus"},
        answer_by=timezone.now() + timedelta(hours=1),
    )
    headers = {
        "own": own.headers,
        "other": other.headers,
        "buyer_same_org": make_org_with_key(role="buyer", org=own.keyed.org).headers,
        "reserving_buyer": reserving_buyer.headers,
        "finance_same_org": make_org_with_key(role="finance", org=own.keyed.org).headers,
        "anonymous": {},
    }
    return World(own, other, offer, reservation, request, headers)


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str  # {offer}, {reservation} and {provider} are filled in
    body: dict | None
    own: int  # status for the own key
    other: str  # what another provider's key gets: "404", "only_theirs" (a list of its
    # own rows), or "own_data" (a write that lands on its own provider)


ENDPOINTS = [
    Endpoint("list offers", "get", "/api/v1/provider/offers/", None, 200, "only_theirs"),
    Endpoint("create offer", "post", "/api/v1/provider/offers/", NEW_OFFER, 201, "own_data"),
    Endpoint(
        "bulk upsert", "put", "/api/v1/provider/offers/", {"offers": [NEW_OFFER]}, 200, "own_data"
    ),
    Endpoint("read offer", "get", "/api/v1/provider/offers/{offer}/", None, 200, "404"),
    Endpoint(
        "patch offer",
        "patch",
        "/api/v1/provider/offers/{offer}/",
        {"price_per_hour": "9.99"},
        200,
        "404",
    ),
    Endpoint(
        "replace offer",
        "put",
        "/api/v1/provider/offers/{offer}/",
        NEW_OFFER | {"sku": "own.h100", "region": "sim-us-east-1", "available": 0},
        200,
        "404",
    ),
    Endpoint("withdraw offer", "delete", "/api/v1/provider/offers/{offer}/", None, 200, "404"),
    Endpoint(
        "list launch requests", "get", "/api/v1/provider/launch-requests/", None, 200, "only_theirs"
    ),
    Endpoint(
        "report event",
        "post",
        "/api/v1/provider/reservations/{reservation}/events/",
        {"id": "e1", "type": "running", "connection": {"host": "h"}},
        200,
        "404",
    ),
    Endpoint(
        "change webhook url",
        "post",
        "/api/v1/providers/{provider}/webhook/",
        {"webhook_url": "https://hooks.example.com/new"},
        200,
        "404",
    ),
    Endpoint(
        "rotate webhook secret",
        "post",
        "/api/v1/providers/{provider}/webhook/rotate-secret/",
        {"overlap_seconds": 60},
        201,
        "404",
    ),
]
ACTORS = ["own", "other", "buyer_same_org", "reserving_buyer", "finance_same_org", "anonymous"]


def _snapshot(world: World) -> tuple:
    offer = Offer.objects.get(pk=world.offer.pk)
    return (
        (offer.price_per_hour, offer.available, offer.status, offer.gpu_id),
        Reservation.objects.get(pk=world.reservation.pk).status,
        LaunchRequest.objects.get(pk=world.request.pk).status,
        sorted(Offer.objects.filter(provider=world.own.provider).values_list("sku", flat=True)),
        Provider.objects.values_list("webhook_url", "webhook_secret").get(pk=world.own.provider.pk),
    )


def _call(client, world: World, endpoint: Endpoint, actor: str):
    path = endpoint.path.format(
        offer=world.offer.pk, reservation=world.reservation.pk, provider=world.own.provider.pk
    )
    call = getattr(client, endpoint.method)
    return call(path, endpoint.body, format="json", **world.headers[actor])


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_the_permission_matrix(api_client, world, endpoint, actor):
    # given the provider's state before the call
    before = _snapshot(world)

    # when the actor calls the endpoint
    response = _call(api_client, world, endpoint, actor)
    body = response.json()

    # then only the own key reaches the provider's data
    if actor == "own":
        assert response.status_code == endpoint.own, body
        return
    if actor == "anonymous":
        assert (response.status_code, body["error"]["code"]) == (401, "not_authenticated")
    elif actor != "other":
        assert (response.status_code, body["error"]["code"]) == (403, "permission_denied")
    elif endpoint.other == "404":
        assert (response.status_code, body["error"]["code"]) == (404, "not_found")
    elif endpoint.other == "only_theirs":
        assert response.status_code == 200
        ours = world.offer.pk if "offers" in endpoint.path else world.request.pk
        assert ours not in [r["id"] for r in body["results"]]
        assert [r["provider"] for r in body["results"]] == ["other-gpus"]
    else:  # a write to a collection lands on the caller's own provider
        assert response.status_code in (200, 201), body
        assert body["provider"] == "other-gpus"
    assert _snapshot(world) == before


def test_the_own_key_really_changed_something(api_client, world):
    """The matrix's positive cases, checked for effect (not only status codes)."""
    for endpoint in ENDPOINTS:
        response = _call(api_client, world, endpoint, "own")
        assert response.status_code == endpoint.own, (endpoint.name, response.content)
    offer = Offer.objects.get(pk=world.offer.pk)
    assert (offer.status, offer.available) == ("withdrawn", 0)  # the last offer write
    assert str(offer.price_per_hour) == "0.500000"  # from the replace
    assert Reservation.objects.get(pk=world.reservation.pk).status == "running"
    assert sorted(
        Offer.objects.filter(provider=world.own.provider).values_list("sku", flat=True)
    ) == ["new.l4x1", "own.h100"]
    provider = Provider.objects.get(pk=world.own.provider.pk)
    assert provider.webhook_url == "https://hooks.example.com/new"
    assert provider.previous_webhook_secret == world.own.provider.webhook_secret
    assert provider.webhook_secret not in ("", world.own.provider.webhook_secret)
