"""GET /api/v1/offers/ with the filter language, sort keys and cursors; the offers page."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from marketplace.models import GpuModel, OfferStatus
from marketplace.search import clear_catalog_cache
from tests.factories import OfferFactory, ProviderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog():
    """Six offers across two providers, three GPUs and two continents."""
    now = timezone.now()
    h100 = GpuModel.objects.get(name="H100", memory_gb=80)
    a100 = GpuModel.objects.get(name="A100", memory_gb=80)
    l4 = GpuModel.objects.get(name="L4")
    sim = ProviderFactory()
    lam = ProviderFactory(name="Lambda", slug="lambda")
    rows = {
        "h100x8-eu": dict(provider=lam, gpu=h100, gpu_count=8, region="eu-west-1", continent="EU",
                          price_per_hour=Decimal("24"), reliability=Decimal("0.99")),
        "h100x1-us": dict(provider=sim, gpu=h100, gpu_count=1, region="us-east-1", continent="NA",
                          price_per_hour=Decimal("2.9"), observed_at=now - timedelta(hours=3)),
        "a100x8-us": dict(provider=sim, gpu=a100, gpu_count=8, region="us-west-2", continent="NA",
                          price_per_hour=Decimal("12"), reliability=Decimal("0.95")),
        "a100x4-eu": dict(provider=lam, gpu=a100, gpu_count=4, region="eu-central-1",
                          continent="EU", price_per_hour=Decimal("7.2"), pricing="spot"),
        "l4x1-eu": dict(provider=lam, gpu=l4, gpu_count=1, gpu_memory_gb=Decimal(24),
                        region="eu-west-1", continent="EU", price_per_hour=Decimal("0.8"),
                        status=OfferStatus.STALE),
        "gone-h100": dict(provider=sim, gpu=h100, gpu_count=8, region="us-east-1", continent="NA",
                          price_per_hour=Decimal("8"), status=OfferStatus.WITHDRAWN),
    }  # fmt: skip
    clear_catalog_cache()
    return {
        sku: OfferFactory(
            sku=sku,
            price_per_gpu_hour=row["price_per_hour"] / row["gpu_count"],
            observed_at=row.pop("observed_at", now),
            **row,
        )
        for sku, row in rows.items()
    }


def skus(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [offer["sku"] for offer in response.json()["results"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["l4x1-eu", "a100x8-us", "a100x4-eu", "h100x1-us", "h100x8-eu"]),
        ("gpu=H100 gpus>=8 price<=30/h", ["h100x8-eu"]),
        ("gpu_name=h100-sxm", ["h100x1-us", "h100x8-eu"]),
        ("gpu in [A100,L4] region=eu-*", ["l4x1-eu", "a100x4-eu"]),
        ("(gpu=A100 pricing=spot) or provider=simcloud gpus=1", ["a100x4-eu", "h100x1-us"]),
        ("continent=europe not gpu=A100 gpu_price<2", ["l4x1-eu"]),
        ("observed>1h", ["h100x1-us"]),
        ("reliability>=95%", ["a100x8-us", "h100x8-eu"]),
        ("status=withdrawn", ["gone-h100"]),
        ("status=any gpu=H100", ["gone-h100", "h100x1-us", "h100x8-eu"]),
        ("num_gpus>=8 dph<20", ["a100x8-us"]),
    ],
)
def test_it_filters_offers_with_the_filter_language(api_client, catalog, query, expected):
    # given the catalog; when a buyer searches
    response = api_client.get("/api/v1/offers/", {"q": query})
    # then exactly the matching offers come back, cheapest GPU-hour first
    assert skus(response) == expected


def test_it_answers_a_bad_query_with_its_position_and_a_hint(api_client, catalog):
    response = api_client.get("/api/v1/offers/", {"q": "gpus>=4 prise<3"})
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "invalid_query",
            "message": "Unknown field 'prise'.",
            "position": 8,
            "hint": "Did you mean price?",
        }
    }


def test_it_answers_a_bad_unit_at_the_unit(api_client, catalog):
    error = api_client.get("/api/v1/offers/", {"q": "vram>=80XB"}).json()["error"]
    assert (error["code"], error["position"]) == ("invalid_query", 8)
    assert "MB, MiB, GB, GiB, TB, TiB" in error["hint"]


def test_it_answers_a_bad_sort_key_with_its_position(api_client, catalog):
    error = api_client.get("/api/v1/offers/", {"sort": "price,-prize"}).json()["error"]
    assert (error["code"], error["position"]) == ("invalid_sort", 7)
    assert error["hint"].startswith("Did you mean price?")


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("price", ["l4x1-eu", "h100x1-us", "a100x4-eu", "a100x8-us", "h100x8-eu"]),
        ("-gpus,price", ["a100x8-us", "h100x8-eu", "a100x4-eu", "l4x1-eu", "h100x1-us"]),
        ("-total_vram,gpu_price", ["a100x8-us", "h100x8-eu", "a100x4-eu", "h100x1-us", "l4x1-eu"]),
        ("-reliability,price", ["h100x8-eu", "a100x8-us", "l4x1-eu", "h100x1-us", "a100x4-eu"]),
        ("-observed,price", ["h100x1-us", "l4x1-eu", "a100x4-eu", "a100x8-us", "h100x8-eu"]),
    ],
)
def test_it_pages_through_any_sort_without_gaps_or_repeats(api_client, catalog, sort, expected):
    # given a sort on a column, an expression (total_vram), a nullable column (reliability) or
    # an age; when a buyer pages two offers at a time
    seen, cursor = [], None
    for _ in range(5):
        params = {"sort": sort, "limit": 2} | ({"cursor": cursor} if cursor else {})
        body = api_client.get("/api/v1/offers/", params).json()
        seen += [offer["sku"] for offer in body["results"]]
        cursor = body["next"]
        if cursor is None:
            break
    # then the pages join up to the whole sorted list
    assert seen == expected


def test_it_refuses_a_cursor_from_another_sort(api_client, catalog):
    cursor = api_client.get("/api/v1/offers/", {"sort": "price", "limit": 1}).json()["next"]
    response = api_client.get("/api/v1/offers/", {"sort": "-gpus", "cursor": cursor})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_cursor"


@pytest.mark.parametrize(
    "values",
    [
        ["price_per_gpu_hour,id", "abc", "x"],
        ["price_per_gpu_hour,id", None, 3],
        ["price_per_gpu_hour,id", "1.5", [1]],
        ["price_per_gpu_hour,id", {"a": 1}, 3],
    ],
)
def test_it_answers_a_forged_cursor_with_400(api_client, catalog, values):
    cursor = base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")
    response = api_client.get("/api/v1/offers/", {"cursor": cursor})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_cursor"


def test_it_answers_a_cursor_nested_past_the_recursion_limit_with_400(api_client, catalog):
    # a forged cursor `[[[[...` once raised RecursionError in the JSON decoder: a 500
    cursor = base64.urlsafe_b64encode(b"[" * 5000).decode().rstrip("=")
    response = api_client.get("/api/v1/offers/", {"cursor": cursor})
    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_cursor")
    # the offers page reads the same cursors
    assert api_client.get("/offers/", {"cursor": cursor}).status_code == 400


def test_it_reads_a_page_of_a_filtered_search_in_one_query(api_client, catalog):
    # given a first page (which also warms the GPU/provider catalog cache, read at most once a
    # minute per process)
    query = {"q": "provider=lambda gpu in [H100,A100] region=eu-*", "sort": "-total_vram"}
    first = api_client.get("/api/v1/offers/", query | {"limit": 1}).json()
    assert [offer["sku"] for offer in first["results"]] == ["h100x8-eu"]
    # when the next page is asked for with the cursor
    with CaptureQueriesContext(connection) as queries:
        response = api_client.get("/api/v1/offers/", query | {"cursor": first["next"]})
    # then one query reads the page, provider and GPU included
    assert skus(response) == ["a100x4-eu"]
    assert len(queries) == 1


def test_it_reads_the_catalog_once_when_its_cache_is_cold(api_client, catalog):
    clear_catalog_cache()
    with CaptureQueriesContext(connection) as queries:
        response = api_client.get("/api/v1/offers/", {"q": "gpu=H100 provider=simcloud"})
    assert skus(response) == ["h100x1-us"]
    assert len(queries) == 3  # GPU list, provider list, the page


# --- the offers page ---------------------------------------------------------------------


def test_the_page_filters_and_sorts_with_the_same_language(client, catalog):
    html = client.get("/offers/", {"q": "region=eu-*", "sort": "-gpus"}).content.decode()
    rows = html.split("<tbody>")[1]
    assert rows.index("24.0000") < rows.index("7.2000") < rows.index("0.8000")
    assert "h100x1" not in rows and "2.9000" not in rows
    # the active column links to the other direction and shows an arrow
    assert 'href="?q=region%3Deu-%2A&amp;sort=gpus">GPUs</a> <span class="arrow">▼' in html
    assert 'href="?q=region%3Deu-%2A&amp;sort=gpu_price">$/GPU-h</a></th>' in html


def test_the_page_shows_a_query_error_with_a_caret_under_it(client, catalog):
    response = client.get("/offers/", {"q": "gpus>=4 prise<3"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Unknown field &#x27;prise&#x27;." in html
    assert "Did you mean price?" in html
    assert "q: gpus&gt;=4 prise&lt;3\n" + " " * 11 + "^</pre>" in html


def test_the_page_links_to_the_next_page(client, catalog, settings):
    from marketplace import views

    views_page_size, views.PAGE_SIZE = views.PAGE_SIZE, 2
    try:
        html = client.get("/offers/").content.decode()
        next_url = html.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0]
        second = client.get("/offers/" + next_url.replace("&amp;", "&")).content.decode()
    finally:
        views.PAGE_SIZE = views_page_size
    assert "0.8000" in html and "12.0000" in html
    assert "2.9000" in second and "7.2000" in second and "0.8000" not in second
