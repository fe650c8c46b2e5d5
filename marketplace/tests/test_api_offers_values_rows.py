"""The catalog API renders its page from `.values()` rows (FlatOutput.render_values): the
bytes it answers are those the offer serializer renders from the offers themselves, page
after page, whatever the filter and sort."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rest_framework.renderers import JSONRenderer

from common.api.serializers import page_serializer
from marketplace.api.catalog import OfferOutput
from marketplace.models import GpuModel, OfferStatus
from marketplace.search import clear_catalog_cache
from marketplace.selectors.catalog import offer_search
from tests.factories import OfferFactory, ProviderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def offers():
    h100 = GpuModel.objects.get(name="H100", memory_gb=80)
    a100 = GpuModel.objects.get(name="A100", memory_gb=80)
    lam = ProviderFactory(name="Lambda", slug="lambda")
    rows = [
        dict(gpu=h100, gpu_count=8, price_per_hour=Decimal("24"), reliability=Decimal("0.99")),
        dict(gpu=h100, gpu_count=1, price_per_hour=Decimal("2.9"), provider=lam),
        dict(gpu=a100, gpu_count=8, price_per_hour=Decimal("12"), region="eu-west-1"),
        dict(gpu=a100, gpu_count=4, price_per_hour=Decimal("7.2"), pricing="spot"),
        dict(gpu=None, gpu_count=2, price_per_hour=Decimal("3.000000"), suspect=True,
             suspect_reason="far below", status=OfferStatus.STALE),
        dict(gpu=h100, gpu_count=2, price_per_hour=Decimal("5.8"), status=OfferStatus.WITHDRAWN),
    ]  # fmt: skip
    clear_catalog_cache()
    for row in rows:
        OfferFactory(price_per_gpu_hour=row["price_per_hour"] / row["gpu_count"], **row)


def _rendered_from_offers(query: str, sort: str, limit: int, cursor: str | None) -> bytes:
    page = offer_search(query=query, sort=sort).page(limit=limit, cursor=cursor)
    assert all(not isinstance(row, dict) for row in page.rows)  # model instances
    return JSONRenderer().render(page_serializer(OfferOutput)(page).data)


@pytest.mark.parametrize(
    ("query", "sort"),
    [
        ("", ""),
        ("gpus>=2", "-total_vram,gpu_price"),  # a sort through an annotation
        ("gpu in [H100, A100]", "gpu_price"),  # run one GPU at a time, merged
        ("status=withdrawn or status=stale", "-reliability"),  # a null GPU, a null reliability
        ("provider=lambda", "price"),
    ],
)
def test_each_page_is_the_document_the_offers_render_to(api_client, offers, query, sort):
    cursor, pages = None, 0
    while True:
        params = {"q": query, "sort": sort, "limit": 2, **({"cursor": cursor} if cursor else {})}
        response = api_client.get("/api/v1/offers/", params)
        assert response.status_code == 200
        assert response.content == _rendered_from_offers(query, sort, 2, cursor)
        pages += 1
        cursor = response.json()["next"]
        if cursor is None:
            break
    assert pages >= 1


def test_the_columns_are_the_fields_sources():
    columns = OfferOutput.columns()
    assert columns[:3] == ("id", "provider__slug", "sku")
    assert "gpu__name" in columns and "gpu__vendor" in columns
    assert len(columns) == len(OfferOutput().fields)


# --- first pages compiled once per process ------------------------------------------------


@pytest.fixture
def page_sql(monkeypatch):
    """The process's cache of compiled first pages, empty, and a count of compilations."""
    from marketplace.selectors import catalog

    cache = catalog._PageSqlCache(4)
    monkeypatch.setattr(catalog, "_PAGE_SQL", cache)
    compiled = []
    compile_page = catalog._compile

    def counted(*args):
        compiled.append(args)
        return compile_page(*args)

    monkeypatch.setattr(catalog, "_compile", counted)
    cache.compilations = compiled
    return cache


def test_a_search_asked_again_is_answered_from_its_compiled_sql(api_client, offers, page_sql):
    first = api_client.get("/api/v1/offers/", {"q": "gpus>=2", "sort": "-total_vram"})
    # the same filter, spelt differently
    again = api_client.get("/api/v1/offers/", {"q": "  gpus >= 2 ", "sort": "-total_vram"})
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert len(page_sql.compilations) == 1
    assert again.content == _rendered_from_offers("gpus>=2", "-total_vram", 50, None)


def test_the_cache_is_bounded_least_recently_used_first_out(api_client, offers, page_sql):
    queries = [f"gpus>={n}" for n in range(1, 7)]
    for query in queries:
        assert api_client.get("/api/v1/offers/", {"q": query}).status_code == 200
    assert len(page_sql) == 4
    api_client.get("/api/v1/offers/", {"q": queries[-1]})  # still kept
    assert len(page_sql.compilations) == 6
    api_client.get("/api/v1/offers/", {"q": queries[0]})  # gone: compiled again
    assert len(page_sql.compilations) == 7


def test_a_gpu_added_to_the_catalog_is_found_at_once(api_client, offers, page_sql):
    # given a search for GPU names that match none yet, compiled and kept
    def skus():
        response = api_client.get("/api/v1/offers/", {"q": "gpu=ZX9*"})
        return [row["sku"] for row in response.json()["results"]]

    assert skus() == []
    # when such a GPU and an offer of it are listed (saving the GPU model renews the
    # process's catalog snapshot)
    gpu = GpuModel.objects.create(vendor="nvidia", name="ZX9000", memory_gb=96)
    OfferFactory(gpu=gpu, sku="zx")
    # then the next search finds it: the old SQL was kept for the old snapshot only
    assert skus() == ["zx"]


def test_a_search_by_age_is_compiled_each_time(api_client, offers, page_sql):
    for _ in range(2):
        assert api_client.get("/api/v1/offers/", {"q": "observed<1h"}).status_code == 200
    assert len(page_sql) == 0
    assert len(page_sql.compilations) == 0  # not through the cache at all


def test_a_filter_that_matches_nothing_is_kept_too(api_client, offers, page_sql):
    for _ in range(2):
        response = api_client.get("/api/v1/offers/", {"q": "provider=nobody-here"})
        assert response.json() == {"results": [], "next": None}
    assert len(page_sql.compilations) == 1
