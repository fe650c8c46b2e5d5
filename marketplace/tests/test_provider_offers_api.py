"""/api/v1/provider/offers/: providers list, create, bulk upsert, update and withdraw."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from marketplace.models import Offer, OfferPrice, OfferStatus, Reservation
from marketplace.selectors.offers import offer_price_history
from marketplace.services.providers import provider_register
from marketplace.tests.provider_fixtures import make_listed_provider, reserve
from tests.factories import OfferFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/provider/offers/"


def offer_item(**fields) -> dict:
    item = {
        "sku": "acme.h100x8",
        "gpu": "H100",
        "gpu_count": 8,
        "vcpus": 192,
        "memory_gb": "1536",
        "disk_gb": 4000,
        "region": "eu-west-1",
        "pricing": "on_demand",
        "price_per_hour": "19.500000",
        "available": 3,
    }
    return item | fields


def prices(offer: Offer) -> list[Decimal]:
    return [point.price_per_hour for point in offer_price_history(offer=offer)]


def put_offers(client, seller, offers, **body):
    return client.put(URL, {"offers": offers, **body}, format="json", **seller.headers)


def three_offers() -> list[dict]:
    return [
        offer_item(),
        offer_item(sku="acme.a100x1", gpu="A100-80GB", gpu_count=1, price_per_hour="1.25"),
        offer_item(pricing="spot", price_per_hour="9.75"),
    ]


# --- create ------------------------------------------------------------------------------


def test_it_creates_an_offer_normalising_the_gpu_and_the_location(api_client):
    # given a provider organization with a provider key
    seller = make_listed_provider()

    # when it lists an offer under an alias of the GPU
    response = api_client.post(
        URL, offer_item(gpu="NVIDIA H100 80GB HBM3"), format="json", **seller.headers
    )

    # then the offer is stored with the canonical GPU, the region's country and continent
    assert response.status_code == 201, response.content
    body = response.json()
    assert {k: body[k] for k in ("provider", "sku", "gpu", "gpu_count", "gpu_memory_gb")} == {
        "provider": "acme-gpus",
        "sku": "acme.h100x8",
        "gpu": "H100",
        "gpu_count": 8,
        "gpu_memory_gb": "80.0",
    }
    assert (body["region"], body["country"], body["continent"]) == ("eu-west-1", "IE", "EU")
    assert (body["price_per_hour"], body["price_per_gpu_hour"]) == ("19.500000", "2.437500")
    assert (body["available"], body["status"], body["pricing"]) == (3, "active", "on_demand")
    offer = Offer.objects.get(pk=body["id"])
    assert prices(offer) == [Decimal("19.500000")]


def test_it_refuses_to_create_an_offer_that_exists(api_client):
    seller = make_listed_provider()
    first = api_client.post(URL, offer_item(), format="json", **seller.headers)
    again = api_client.post(URL, offer_item(price_per_hour="1"), format="json", **seller.headers)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "offer_exists"
    assert again.json()["error"]["offer"] == first.json()["id"]
    assert Offer.objects.get().price_per_hour == Decimal("19.500000")


def test_it_makes_listed_offers_reservable(api_client):
    # given a provider registered through the API
    seller = make_listed_provider()
    offer_id = api_client.post(URL, offer_item(), format="json", **seller.headers).json()["id"]
    # then its offers launch through the `listed` launcher and can be reserved
    assert seller.provider.launcher == "listed"
    reservation = reserve(Offer.objects.get(pk=offer_id))
    assert (reservation.status, reservation.price_per_hour) == ("pending", Decimal("19.500000"))


# --- bulk upsert -----------------------------------------------------------------------


def test_it_upserts_a_list_and_changes_nothing_when_it_comes_again(api_client):
    seller = make_listed_provider()

    first = put_offers(api_client, seller, three_offers())
    again = put_offers(api_client, seller, three_offers())

    assert first.status_code == 200, first.content
    assert first.json() == {
        "provider": "acme-gpus",
        "created": 3,
        "updated": 0,
        "unchanged": 0,
        "withdrawn": 0,
    }
    assert again.json() == {
        "provider": "acme-gpus",
        "created": 0,
        "updated": 0,
        "unchanged": 3,
        "withdrawn": 0,
    }
    assert Offer.objects.filter(provider=seller.provider).count() == 3
    assert OfferPrice.objects.count() == 0  # no price changed
    a100 = Offer.objects.get(sku="acme.a100x1")
    assert (a100.gpu.name, a100.gpu.memory_gb, a100.gpu_memory_gb) == ("A100", 80, Decimal("80"))


def test_it_updates_changed_rows_and_records_price_history(api_client):
    seller = make_listed_provider()
    put_offers(api_client, seller, three_offers())
    changed = three_offers()
    changed[0]["price_per_hour"] = "18.000000"
    changed[1]["available"] = 0

    response = put_offers(api_client, seller, changed)

    assert (response.json()["updated"], response.json()["unchanged"]) == (2, 1)
    h100 = Offer.objects.get(sku="acme.h100x8", pricing="on_demand")
    assert prices(h100) == [Decimal("19.500000"), Decimal("18.000000")]
    assert Offer.objects.get(sku="acme.a100x1").available == 0
    assert prices(Offer.objects.get(sku="acme.a100x1")) == [Decimal("1.250000")]  # unchanged


def test_it_withdraws_offers_left_out_of_a_complete_list(api_client):
    seller = make_listed_provider()
    other = OfferFactory()  # another provider's offer is never touched
    put_offers(api_client, seller, three_offers())

    response = put_offers(api_client, seller, three_offers()[:1], complete=True)

    assert response.json() | {"provider": None} == {
        "provider": None,
        "created": 0,
        "updated": 0,
        "unchanged": 1,
        "withdrawn": 2,
    }
    statuses = dict(Offer.objects.filter(provider=seller.provider).values_list("sku", "status"))
    spot = Offer.objects.get(provider=seller.provider, pricing="spot")
    assert statuses["acme.a100x1"] == OfferStatus.WITHDRAWN
    assert (spot.status, spot.available) == (OfferStatus.WITHDRAWN, 0)
    assert (
        Offer.objects.get(provider=seller.provider, sku="acme.h100x8", pricing="on_demand").status
        == "active"
    )
    other.refresh_from_db()
    assert other.status == OfferStatus.ACTIVE


def test_it_keeps_offers_left_out_of_a_partial_list(api_client):
    seller = make_listed_provider()
    put_offers(api_client, seller, three_offers())
    response = put_offers(api_client, seller, three_offers()[:1])
    assert response.json()["withdrawn"] == 0
    assert set(Offer.objects.values_list("status", flat=True)) == {"active"}


def test_it_lists_a_withdrawn_offer_again_when_it_comes_back(api_client):
    seller = make_listed_provider()
    put_offers(api_client, seller, three_offers())
    put_offers(api_client, seller, [], complete=True)
    assert set(Offer.objects.values_list("status", flat=True)) == {"withdrawn"}
    response = put_offers(api_client, seller, three_offers())
    assert (response.json()["updated"], response.json()["created"]) == (3, 0)
    assert set(Offer.objects.values_list("status", "available")) == {("active", 3)}


def test_it_refuses_a_list_over_the_cap(api_client):
    seller = make_listed_provider()
    offers = [offer_item(sku=f"s{n}") for n in range(5001)]
    response = put_offers(api_client, seller, offers)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "too_many_offers"
    assert not Offer.objects.exists()


def test_it_reports_every_bad_item_with_its_index_and_stores_none(api_client):
    seller = make_listed_provider()
    offers = [
        offer_item(sku="good"),
        offer_item(sku="bad-count", gpu_count=0),
        "not an object",
        offer_item(sku="bad-price", price_per_hour="1.0000001"),
        offer_item(sku="typo", regoin="x"),
    ]
    response = put_offers(api_client, seller, offers)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["index"] == 1
    assert error["message"].startswith("offers[1]: gpu_count:")
    assert [(e["index"], e["code"]) for e in error["errors"]] == [
        (1, "validation_error"),
        (2, "invalid_body"),
        (3, "validation_error"),
        (4, "unknown_field"),
    ]
    assert "6 decimal places" in error["errors"][2]["message"]
    assert not Offer.objects.exists()


def test_it_refuses_unknown_gpus_with_a_hint(api_client):
    seller = make_listed_provider()
    response = put_offers(api_client, seller, [offer_item(), offer_item(sku="x", gpu="H1000")])
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["index"]) == ("unknown_gpu", 1)
    assert error["message"] == "offers[1]: Unknown GPU 'H1000'."
    assert "H100" in error["hint"] and "/api/v1/gpus/" in error["hint"]
    assert not Offer.objects.exists()


def test_it_refuses_the_same_offer_twice_in_one_list(api_client):
    seller = make_listed_provider()
    response = put_offers(api_client, seller, [offer_item(), offer_item(price_per_hour="3")])
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "duplicate_offer"
    assert response.json()["error"]["index"] == 1


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"price_per_hour": "0"}, "price_per_hour"),
        ({"price_per_hour": "-1"}, "price_per_hour"),
        ({"price_per_hour": "NaN"}, "price_per_hour"),
        ({"price_per_hour": "Infinity"}, "price_per_hour"),
        ({"price_per_hour": "0.0000001"}, "price_per_hour"),
        ({"price_per_hour": 100001}, "price_per_hour"),
        ({"price_per_hour": True}, "price_per_hour"),
        ({"gpu_count": 0}, "gpu_count"),
        ({"gpu_count": 65}, "gpu_count"),
        ({"gpu_count": 1.5}, "gpu_count"),
        ({"available": -1}, "available"),
        ({"available": 10001}, "available"),
        ({"vcpus": -2}, "vcpus"),
        ({"memory_gb": 10**7}, "memory_gb"),
        ({"disk_gb": "lots"}, "disk_gb"),
        ({"region": ""}, "region"),
        ({"region": "   "}, "region"),
        ({"region": None}, "region"),
        ({"pricing": "free"}, "pricing"),
        ({"sku": "x" * 201}, "sku"),
        ({"gpu": ""}, "gpu"),
    ],
)
def test_it_answers_bad_offers_with_a_400_naming_the_field(api_client, fields, field):
    seller = make_listed_provider()
    response = api_client.post(URL, offer_item(**fields), format="json", **seller.headers)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["fields"]
    assert not Offer.objects.exists()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"offers": "all of them"}, "validation_error"),
        ({"offers": [], "complete": "maybe"}, "validation_error"),
        ({}, "validation_error"),
        ([], "invalid_body"),
        ({"offers": [], "extra": 1}, "unknown_field"),
    ],
)
def test_it_answers_bad_bulk_bodies_with_a_400(api_client, body, code):
    seller = make_listed_provider()
    response = api_client.put(URL, body, format="json", **seller.headers)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == code


def test_it_answers_malformed_json_with_a_400(api_client):
    seller = make_listed_provider()
    response = api_client.generic(
        "PUT", URL, '{"offers": [', content_type="application/json", **seller.headers
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_request"


# --- several providers in one organization ---------------------------------------------


def test_it_needs_the_provider_named_when_an_organization_owns_several(api_client):
    seller = make_listed_provider()
    provider_register(org=seller.keyed.org, name="Second", slug="acme-two")

    unnamed = put_offers(api_client, seller, three_offers())
    named = put_offers(api_client, seller, three_offers(), provider="acme-two")
    by_query = api_client.post(
        f"{URL}?provider=acme-gpus", offer_item(), format="json", **seller.headers
    )
    foreign = put_offers(api_client, seller, three_offers(), provider="simcloud")

    assert unnamed.status_code == 400
    assert unnamed.json()["error"]["code"] == "provider_required"
    assert unnamed.json()["error"]["providers"] == ["acme-gpus", "acme-two"]
    assert named.json()["provider"] == "acme-two"
    assert by_query.json()["provider"] == "acme-gpus"
    assert foreign.status_code == 404
    assert sorted(Offer.objects.values_list("provider__slug", flat=True)) == [
        "acme-gpus",
        "acme-two",
        "acme-two",
        "acme-two",
    ]
    listed = api_client.get(URL, {"provider": "acme-two"}, **seller.headers).json()["results"]
    assert {o["provider"] for o in listed} == {"acme-two"}
    assert len(api_client.get(URL, **seller.headers).json()["results"]) == 4


def test_it_answers_a_provider_parameter_that_is_no_slug_with_404(api_client):
    # `?provider=%00` reached the database, which refuses NUL in text: a 500
    seller = make_listed_provider()
    listed = api_client.get(URL, {"provider": "acme-gpus\x00"}, **seller.headers)
    created = api_client.post(
        f"{URL}?provider=acme-gpus%00", offer_item(), format="json", **seller.headers
    )
    for response in (listed, created):
        assert response.status_code == 404, response.content
        assert response.json()["error"] == {
            "code": "not_found",
            "message": "Your organization has no provider 'acme-gpus\\x00'.",
        }
    assert not Offer.objects.exists()


# --- list, read, update, withdraw ------------------------------------------------------


def test_it_lists_own_offers_by_pages_in_a_fixed_number_of_queries(api_client):
    seller = make_listed_provider()
    put_offers(api_client, seller, [offer_item(sku=f"s{n:02}") for n in range(12)])
    OfferFactory()  # someone else's

    with CaptureQueriesContext(connection) as queries:
        first = api_client.get(URL, {"limit": 5}, **seller.headers).json()
    # read now: the next request clears the connection's query log
    first_page_queries = [q["sql"] for q in queries]
    second = api_client.get(URL, {"limit": 5, "cursor": first["next"]}, **seller.headers).json()
    third = api_client.get(URL, {"limit": 5, "cursor": second["next"]}, **seller.headers).json()

    skus = [o["sku"] for page in (first, second, third) for o in page["results"]]
    assert skus == [f"s{n:02}" for n in range(12)]
    assert third["next"] is None
    # the key (with its org and owner; its use was stamped by the PUT), the page (providers
    # inside it)
    assert len(first_page_queries) == 2, first_page_queries


def test_it_filters_the_list_by_status(api_client):
    seller = make_listed_provider()
    put_offers(api_client, seller, three_offers())
    put_offers(api_client, seller, three_offers()[:1], complete=True)
    withdrawn = api_client.get(URL, {"status": "withdrawn"}, **seller.headers).json()["results"]
    assert sorted(o["sku"] for o in withdrawn) == ["acme.a100x1", "acme.h100x8"]
    bad = api_client.get(URL, {"status": "gone"}, **seller.headers)
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "invalid_status")
    bad = api_client.get(URL, {"cursor": "!!"}, **seller.headers)
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "invalid_cursor")


def test_it_updates_price_capacity_and_specs_without_touching_reservations(api_client):
    # given a listed offer with a reservation at today's price
    seller = make_listed_provider()
    offer_id = api_client.post(URL, offer_item(), format="json", **seller.headers).json()["id"]
    reservation = reserve(Offer.objects.get(pk=offer_id))
    assert reservation.price_per_hour == Decimal("19.500000")

    # when the provider raises the price and changes specs
    response = api_client.patch(
        f"{URL}{offer_id}/",
        {"price_per_hour": "25.000000", "available": 7, "vcpus": 208},
        format="json",
        **seller.headers,
    )

    # then the offer changes, history records it, and the reservation keeps its price; the
    # unconfirmed reservation's unit stays out of the 7 the provider reports
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["price_per_hour"], body["available"], body["vcpus"]) == ("25.000000", 6, "208.0")
    assert (body["sku"], body["gpu"], body["memory_gb"]) == ("acme.h100x8", "H100", "1536.0")
    offer = Offer.objects.get(pk=offer_id)
    assert prices(offer) == [Decimal("19.500000"), Decimal("25.000000")]
    assert Reservation.objects.get(pk=reservation.pk).price_per_hour == Decimal("19.500000")


def test_it_keeps_the_gpu_memory_variant_through_a_partial_update(api_client):
    seller = make_listed_provider()
    created = api_client.post(
        URL, offer_item(gpu="A100 80GB", gpu_count=1), format="json", **seller.headers
    ).json()
    response = api_client.patch(
        f"{URL}{created['id']}/", {"available": 1}, format="json", **seller.headers
    )
    assert (response.json()["gpu"], response.json()["gpu_memory_gb"]) == ("A100", "80.0")


def test_it_replaces_an_offer_with_put_but_never_its_identity(api_client):
    seller = make_listed_provider()
    offer_id = api_client.post(URL, offer_item(), format="json", **seller.headers).json()["id"]

    replaced = api_client.put(
        f"{URL}{offer_id}/",
        offer_item(gpu="H200", price_per_hour="30", available=1),
        format="json",
        **seller.headers,
    )
    renamed = api_client.patch(
        f"{URL}{offer_id}/",
        {"sku": "other", "region": "us-east-1"},
        format="json",
        **seller.headers,
    )
    partial_put = api_client.put(
        f"{URL}{offer_id}/", {"price_per_hour": "1"}, format="json", **seller.headers
    )

    assert replaced.status_code == 200, replaced.content
    assert (replaced.json()["gpu"], replaced.json()["price_per_hour"]) == ("H200", "30.000000")
    assert renamed.status_code == 400
    assert renamed.json()["error"]["code"] == "immutable_field"
    assert renamed.json()["error"]["fields"] == ["sku", "region"]
    assert partial_put.status_code == 400
    assert partial_put.json()["error"]["code"] == "validation_error"
    assert Offer.objects.get(pk=offer_id).price_per_hour == Decimal("30.000000")


def test_it_withdraws_an_offer_and_lists_it_again_when_it_is_updated(api_client):
    seller = make_listed_provider()
    offer_id = api_client.post(URL, offer_item(), format="json", **seller.headers).json()["id"]

    withdrawn = api_client.delete(f"{URL}{offer_id}/", **seller.headers)

    assert withdrawn.status_code == 200
    assert (withdrawn.json()["status"], withdrawn.json()["available"]) == ("withdrawn", 0)
    catalog = api_client.get("/api/v1/offers/").json()["results"]
    assert offer_id not in [o["id"] for o in catalog]
    read = api_client.get(f"{URL}{offer_id}/", **seller.headers).json()
    assert read["status"] == "withdrawn"
    relisted = api_client.patch(
        f"{URL}{offer_id}/", {"available": 2}, format="json", **seller.headers
    ).json()
    assert (relisted["status"], relisted["available"]) == ("active", 2)


def test_it_answers_404_for_offers_that_do_not_exist(api_client):
    seller = make_listed_provider()
    for method in ("get", "patch", "put", "delete"):
        response = getattr(api_client, method)(f"{URL}999999/", format="json", **seller.headers)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


def test_it_tells_an_organization_without_a_provider_to_register_one(api_client):
    from tests.factories import make_org_with_key

    owner = make_org_with_key(role="owner")
    response = api_client.put(URL, {"offers": []}, format="json", **owner.headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "no_provider"
    assert api_client.get(URL, **owner.headers).json() == {"results": [], "next": None}
