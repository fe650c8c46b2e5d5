"""Compiled filters and sorts run against PostgreSQL and pick the right offers."""

from __future__ import annotations

import os
from datetime import timedelta
from decimal import Decimal

import pytest

if not os.environ.get("DJANGO_SETTINGS_MODULE"):
    pytest.skip("needs Django settings and a database", allow_module_level=True)

from django.utils import timezone

from marketplace.models import GpuModel, Offer, Provider
from marketplace.search import (
    DatabaseResolver,
    clear_catalog_cache,
    compile_filter,
    parse_requirements,
    parse_sort,
)
from tests.factories import OfferFactory, ProviderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_catalog_cache():
    clear_catalog_cache()
    yield
    clear_catalog_cache()


@pytest.fixture
def offers():
    """Five offers that differ in one or two ways each."""
    now = timezone.now()
    h100 = GpuModel.objects.get(name="H100", memory_gb=80)
    a100 = GpuModel.objects.get(name="A100", memory_gb=80)
    mi300x = GpuModel.objects.get(name="MI300X")
    aws = ProviderFactory(name="AWS", slug="aws")
    lambda_eu = ProviderFactory(name="Lambda EU", slug="lambda-eu")
    rows = [
        dict(sku="h100x8-eu", provider=lambda_eu, gpu=h100, gpu_count=8, region="EU-West-1",
             country="IE", continent="EU", price_per_hour=Decimal("24"), observed_at=now),
        dict(sku="h100x1-us", provider=aws, gpu=h100, gpu_count=1, region="us-east-1",
             country="US", continent="NA", price_per_hour=Decimal("3"), pricing="spot",
             observed_at=now - timedelta(hours=3)),
        dict(sku="a100x4-us", provider=aws, gpu=a100, gpu_count=4, region="us-west-2",
             country="US", continent="NA", price_per_hour=Decimal("6"), reliability=Decimal("0.99"),
             observed_at=now),
        dict(sku="mi300x8-eu", provider=lambda_eu, gpu=mi300x, gpu_count=8, gpu_memory_gb=Decimal(192),
             region="eu-central-1", country="DE", continent="EU", price_per_hour=Decimal("20"),
             observed_at=now, suspect=True),
        dict(sku="old-a100", provider=aws, gpu=a100, gpu_count=2, region="us-east-1",
             country="US", continent="NA", price_per_hour=Decimal("2"), status="withdrawn",
             observed_at=now - timedelta(days=3)),
    ]  # fmt: skip
    return [OfferFactory(**row) for row in rows]


def search(query: str) -> set[str]:
    compiled = compile_filter(query, resolver=DatabaseResolver())
    return set(Offer.objects.filter(compiled.q).values_list("sku", flat=True))


ALL = {"h100x8-eu", "h100x1-us", "a100x4-us", "mi300x8-eu", "old-a100"}


@pytest.mark.parametrize(
    ("query", "skus"),
    [
        ("", ALL),
        ("gpu=H100", {"h100x8-eu", "h100x1-us"}),
        ("gpu_name=h100-sxm num_gpus>=8", {"h100x8-eu"}),
        ("gpu in [A100, MI300X] gpus>=4", {"a100x4-us", "mi300x8-eu"}),
        ("gpu!=A100", {"h100x8-eu", "h100x1-us", "mi300x8-eu"}),
        ("gpu_vendor=amd", {"mi300x8-eu"}),
        ("compute_cap>=9.0", {"h100x8-eu", "h100x1-us"}),
        ("total_vram>=640", {"h100x8-eu", "mi300x8-eu"}),
        ("total_vram in [320, 640]", {"h100x8-eu", "a100x4-us"}),
        ("vram>=100GB", {"mi300x8-eu"}),
        ("region=eu-*", {"h100x8-eu", "mi300x8-eu"}),
        ("region=EU-WEST-1", {"h100x8-eu"}),
        ("region in [eu-west-1, us-west-2]", {"h100x8-eu", "a100x4-us"}),
        ("region=*west*", {"h100x8-eu", "a100x4-us"}),
        ("region=us-*-1", {"h100x1-us", "old-a100"}),
        ("continent=europe", {"h100x8-eu", "mi300x8-eu"}),
        ("country notin [US]", {"h100x8-eu", "mi300x8-eu"}),
        ("provider=lambda*", {"h100x8-eu", "mi300x8-eu"}),
        ("provider=AWS pricing=spot", {"h100x1-us"}),
        ("price<=3.5/h", {"h100x1-us", "old-a100"}),
        ("price>2 price<10", {"h100x1-us", "a100x4-us"}),
        ("gpu_price<=1.5", {"a100x4-us", "old-a100"}),
        ("reliability>=99%", {"a100x4-us"}),
        ("not reliability>=99%", ALL - {"a100x4-us"}),
        ("observed<1h", {"h100x8-eu", "a100x4-us", "mi300x8-eu"}),
        ("observed>1d", {"old-a100"}),
        ("suspect=true", {"mi300x8-eu"}),
        ("status=withdrawn", {"old-a100"}),
        ("gpu=H100 gpus>=8 or gpu_vendor=amd", {"h100x8-eu", "mi300x8-eu"}),
        ("not (gpu=H100 or gpu_vendor=amd)", {"a100x4-us", "old-a100"}),
        ("gpu=any gpus>=8", {"h100x8-eu", "mi300x8-eu"}),
        ("gpu=any or gpus>=8", ALL),
        ("not gpu=any or gpus>=8", {"h100x8-eu", "mi300x8-eu"}),
        ("gpu=L40S", set()),
        ('region="x\' OR 1=1 --"', set()),
        ('region="50%_off*"', set()),
    ],
)
def test_it_finds_the_matching_offers(offers, query, skus):
    assert search(query) == skus


def test_the_sql_carries_values_as_parameters(offers):
    compiled = compile_filter('region="x\' OR 1=1 --"', resolver=DatabaseResolver())

    sql, params = Offer.objects.filter(compiled.q).query.sql_with_params()

    assert "1=1" not in sql
    assert "x' or 1=1 --" in params


def test_sorts_apply_with_their_annotations(offers):
    sort = parse_sort("-total_vram,price")

    skus = list(sort.apply(Offer.objects.all()).values_list("sku", flat=True))

    assert skus == ["mi300x8-eu", "h100x8-eu", "a100x4-us", "old-a100", "h100x1-us"]


def test_unknown_reliability_sorts_lowest(offers):
    skus = list(
        parse_sort("-reliability,price").apply(Offer.objects.all()).values_list("sku", flat=True)
    )

    assert skus[0] == "a100x4-us"


def test_age_sorts_newest_first(offers):
    skus = list(parse_sort("observed").apply(Offer.objects.all()).values_list("sku", flat=True))

    assert skus[-2:] == ["h100x1-us", "old-a100"]


def test_requirements_select_offers(offers):
    requirement = parse_requirements("H100,MI300X:80GB..:8")
    q = requirement.to_q(DatabaseResolver())

    assert set(Offer.objects.filter(q).values_list("sku", flat=True)) == {"h100x8-eu", "mi300x8-eu"}


def test_a_new_provider_is_searchable_at_once(offers):
    assert search("provider=newcomer") == set()
    OfferFactory(sku="new", provider=ProviderFactory(name="Newcomer", slug="newcomer"))

    assert search("provider=newcomer") == {"new"}


def test_a_warm_catalog_cache_costs_no_queries(offers, django_assert_num_queries):
    search("gpu=H100 provider=aws")

    with django_assert_num_queries(0):
        compile_filter("gpu=H100 provider=aws", resolver=DatabaseResolver())


def test_bulk_writes_show_after_the_cache_is_cleared(offers):
    search("provider=bulk")
    [provider] = Provider.objects.bulk_create([Provider(name="Bulk", slug="bulk")])
    OfferFactory(sku="bulk-offer", provider=provider)

    assert search("provider=bulk") == set()
    clear_catalog_cache()
    assert search("provider=bulk") == {"bulk-offer"}


def test_a_zero_cache_lifetime_reads_the_catalog_every_time(offers, settings):
    settings.SEARCH_CATALOG_CACHE_SECONDS = 0
    search("provider=bulk")
    [provider] = Provider.objects.bulk_create([Provider(name="Bulk", slug="bulk")])
    OfferFactory(sku="bulk-offer", provider=provider)

    assert search("provider=bulk") == {"bulk-offer"}
