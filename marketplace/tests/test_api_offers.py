from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from marketplace.models import OfferStatus
from marketplace.selectors.catalog_providers import CACHE_KEY as CATALOG_PROVIDERS_KEY
from tests.factories import OfferFactory

pytestmark = pytest.mark.django_db


def test_it_lists_active_and_stale_offers_cheapest_gpu_hour_first(api_client):
    cheap = OfferFactory(
        price_per_hour=Decimal("8.000000"), gpu_count=8, price_per_gpu_hour=Decimal("1.000000")
    )
    dear = OfferFactory(price_per_hour=Decimal("3.000000"), price_per_gpu_hour=Decimal("3.000000"))
    stale = OfferFactory(
        price_per_gpu_hour=Decimal("2.000000"), status=OfferStatus.STALE, suspect=True
    )
    OfferFactory(status=OfferStatus.WITHDRAWN, price_per_gpu_hour=Decimal("0.5"))
    response = api_client.get("/api/v1/offers/")
    assert response.status_code == 200
    results = response.json()["results"]
    assert [o["id"] for o in results] == [cheap.pk, stale.pk, dear.pk]
    first = results[0]
    assert (
        first["gpu"],
        first["gpu_count"],
        first["price_per_hour"],
        first["price_per_gpu_hour"],
    ) == ("H100", 8, "8.000000", "1.000000")
    assert (results[1]["status"], results[1]["suspect"]) == ("stale", True)
    assert set(first) >= {
        "id",
        "provider",
        "sku",
        "gpu",
        "gpu_count",
        "gpu_memory_gb",
        "vcpus",
        "memory_gb",
        "disk_gb",
        "region",
        "country",
        "continent",
        "pricing",
        "price_per_hour",
        "price_per_gpu_hour",
        "currency",
        "available",
        "observed_at",
        "status",
        "suspect",
    }


def test_it_shows_withdrawn_offers_only_when_asked(api_client):
    withdrawn = OfferFactory(status=OfferStatus.WITHDRAWN)
    response = api_client.get("/api/v1/offers/", {"q": "status=withdrawn"})
    assert [o["id"] for o in response.json()["results"]] == [withdrawn.pk]


def test_it_pages_with_a_cursor_without_gaps_or_repeats(api_client):
    offers = [
        OfferFactory(price_per_gpu_hour=Decimal(p)) for p in ("1", "2", "2", "2", "3", "4", "5")
    ]
    seen, cursor = [], None
    for _ in range(10):
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        body = api_client.get("/api/v1/offers/", params).json()
        seen += [o["id"] for o in body["results"]]
        cursor = body["next"]
        if not cursor:
            break
    assert seen == [o.pk for o in offers]


def test_it_lists_offers_in_a_fixed_number_of_queries(api_client):
    for _ in range(30):
        OfferFactory()
    with CaptureQueriesContext(connection) as queries:
        response = api_client.get("/api/v1/offers/", {"limit": 25})
    assert len(response.json()["results"]) == 25
    assert len(queries) == 1


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"limit": "0"}, "invalid_limit"),
        ({"limit": "x"}, "invalid_limit"),
        ({"limit": "²"}, "invalid_limit"),  # a digit to str.isdigit(), not to int(): was a 500
        ({"limit": "9" * 5000}, "invalid_limit"),  # past int()'s 4300 digits: was a 500
        ({"cursor": "%%%"}, "invalid_cursor"),
        ({"sort": "colour"}, "invalid_sort"),
    ],
)
def test_it_answers_bad_listing_parameters_with_400(api_client, params, code):
    response = api_client.get("/api/v1/offers/", params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


def test_it_lists_the_canonical_gpus(api_client):
    body = api_client.get("/api/v1/gpus/").json()
    names = {(g["vendor"], g["name"], g["memory_gb"]) for g in body["results"]}
    assert len(body["results"]) >= 60
    assert {("nvidia", "A100", 40), ("nvidia", "A100", 80), ("amd", "MI300X", 192)} <= names


def test_it_answers_unknown_offers_with_404(api_client):
    response = api_client.get("/api/v1/offers/424242/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_the_offers_page_reads_a_page_of_offers_in_a_fixed_number_of_queries(client):
    # Columns a listing does not show are not fetched (selectors.catalog.NOT_LISTED): if the
    # page read one, each offer would cost a query of its own.
    def queries_for_page() -> int:
        cache.delete(CATALOG_PROVIDERS_KEY)  # counted cold, the providers' listing too
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/offers/")
        assert response.status_code == 200
        return len(queries)

    for _ in range(3):
        OfferFactory()
    few = queries_for_page()
    for _ in range(30):
        OfferFactory()
    assert queries_for_page() == few
