"""Every reservation is reachable: the API and the pages page with cursors to the last row."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import factory
import pytest
from django.utils import timezone

from common.api.pagination import encode_cursor
from marketplace.models import Reservation
from tests.factories import OfferFactory, ProviderFactory, make_org_with_key

pytestmark = pytest.mark.django_db

URL = "/api/v1/reservations/"


class ReservationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Reservation

    offer = factory.SubFactory(OfferFactory)
    gpus = 1
    units = 1
    hours = Decimal("1.0000")
    price_per_hour = Decimal("2.500000")
    max_price_per_hour = Decimal("3.125000")
    reserved_until = factory.LazyFunction(lambda: timezone.now() + timedelta(hours=1))


def _follow_api(client, keyed, **params) -> tuple[list[list[int]], dict]:
    """The ids of each page, following `next` to the end, and the last body."""
    pages, cursor = [], None
    while True:
        query = params | ({"cursor": cursor} if cursor else {})
        response = client.get(URL, query, **keyed.headers)
        assert response.status_code == 200, response.content
        body = response.json()
        pages.append([row["id"] for row in body["results"]])
        cursor = body["next"]
        if cursor is None:
            return pages, body


def test_it_reaches_all_250_reservations_newest_first(api_client):
    # given 250 reservations of one organization and some of another
    buyer = make_org_with_key(role="buyer")
    offer = OfferFactory()
    mine = [r.pk for r in ReservationFactory.create_batch(250, org=buyer.org, offer=offer)]
    ReservationFactory.create_batch(3, org=make_org_with_key().org, offer=offer)

    # when the buyer follows `next` with the default page size (50)
    pages, last = _follow_api(api_client, buyer)

    # then each reservation comes once, newest first, and only the last page says no next
    assert [len(page) for page in pages] == [50, 50, 50, 50, 50]
    assert [rid for page in pages for rid in page] == sorted(mine, reverse=True)
    assert last["next"] is None


def test_it_pages_in_a_fixed_number_of_queries(api_client, django_assert_max_num_queries):
    # given 120 reservations across several providers (related rows to fetch per row)
    buyer = make_org_with_key(role="buyer")
    for slug in ("alpha", "beta", "gamma"):
        provider = ProviderFactory(slug=slug)
        ReservationFactory.create_batch(40, org=buyer.org, offer=OfferFactory(provider=provider))
    first = api_client.get(URL, {"limit": 10}, **buyer.headers).json()

    # when a page of 100 is read after a cursor: then two queries (the API key, the page
    # with its offers, providers and GPUs joined), however many rows
    with django_assert_max_num_queries(2):
        body = api_client.get(URL, {"limit": 100, "cursor": first["next"]}, **buyer.headers).json()
    assert len(body["results"]) == 100
    assert {row["provider"] for row in body["results"]} == {
        r.offer.provider.slug for r in Reservation.objects.filter(org=buyer.org)
    }


def test_a_page_row_carries_the_reservation_document(api_client):
    buyer = make_org_with_key(role="buyer")
    reservation = ReservationFactory(org=buyer.org, gpus=2)
    (row,) = api_client.get(URL, **buyer.headers).json()["results"]
    assert (row["id"], row["gpus"], row["price_per_hour"], row["sku"]) == (
        reservation.pk,
        2,
        "2.500000",
        reservation.offer.sku,
    )
    assert row["created_at"].endswith("Z")


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"cursor": "not a cursor!"}, "invalid_cursor"),
        ({"cursor": encode_cursor(["seven"])}, "invalid_cursor"),
        ({"cursor": encode_cursor([[7]])}, "invalid_cursor"),
        ({"cursor": encode_cursor([None])}, "invalid_cursor"),
        ({"cursor": encode_cursor([7, 8])}, "invalid_cursor"),
        ({"limit": "0"}, "invalid_limit"),
        ({"limit": "501"}, "invalid_limit"),
    ],
)
def test_it_refuses_a_forged_cursor_or_a_bad_limit(api_client, params, code):
    buyer = make_org_with_key(role="buyer")
    response = api_client.get(URL, params, **buyer.headers)
    assert (response.status_code, response.json()["error"]["code"]) == (400, code)


def test_a_cursor_past_any_id_is_an_empty_last_page(api_client):
    # given a cursor holding an id beyond bigint (forged): nothing is older than it
    buyer = make_org_with_key(role="buyer")
    ReservationFactory(org=buyer.org)
    response = api_client.get(URL, {"cursor": encode_cursor([-(10**30)])}, **buyer.headers)
    assert response.status_code == 200
    assert response.json() == {"results": [], "next": None}


def _follow_page(client, path: str, pattern: str) -> list[int]:
    ids, url = [], path
    while url:
        response = client.get(url)
        assert response.status_code == 200
        html = response.content.decode()
        ids += [int(found) for found in re.findall(pattern, html)]
        next_link = re.search(r'<a href="(\?cursor=[^"]+)" rel="next">', html)
        url = path + next_link.group(1) if next_link else None
    return ids


@pytest.mark.parametrize(
    ("path", "row", "viewer"),
    [
        ("/reservations/", r'<a href="/reservations/(\d+)/">', "buyer"),
        ("/provider/", r"<tr><td>(\d+)</td>", "seller"),
    ],
)
def test_the_reservation_pages_reach_every_row_through_next_links(client, path, row, viewer):
    # given 250 reservations of a provider's offers (a page shows 100), made by a buyer
    seller = make_org_with_key(role="provider")
    buyer = make_org_with_key(role="buyer")
    offer = OfferFactory(provider=ProviderFactory(slug="ownrig", org=seller.org))
    made = [r.pk for r in ReservationFactory.create_batch(250, org=buyer.org, offer=offer)]
    client.force_login({"buyer": buyer, "seller": seller}[viewer].user)

    # when the buyer (their reservations) or the seller (incoming) follows the Next links
    ids = _follow_page(client, path, row)

    # then every reservation shows once, newest first
    assert ids == sorted(made, reverse=True)


def test_a_forged_page_cursor_is_a_400_page(client):
    buyer = make_org_with_key(role="buyer")
    client.force_login(buyer.user)
    response = client.get("/reservations/", {"cursor": "%%%"})
    assert response.status_code == 400
    assert b"The cursor is malformed." in response.content
