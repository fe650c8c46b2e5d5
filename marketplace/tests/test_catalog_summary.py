"""The home page's figures (marketplace.selectors.catalog_summary): counted once a minute, not
on every visit; and each test starts with a cache of its own (conftest.py `_own_cache`)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.cache import cache

from marketplace.models import OfferStatus
from marketplace.selectors.catalog_summary import CACHE_KEY, CatalogSummary, catalog_summary
from tests.factories import OfferFactory, ProviderFactory

pytestmark = pytest.mark.django_db


def test_it_counts_active_offers_their_providers_and_the_cheapest_gpu_hour():
    other = ProviderFactory(slug="other", name="Other")
    OfferFactory(price_per_hour=Decimal("3.000000"))
    OfferFactory(provider=other, gpu_count=2, price_per_hour=Decimal("4.000000"))  # 2.00/GPU-h
    OfferFactory(price_per_hour=Decimal("0.500000"), status=OfferStatus.STALE)
    OfferFactory(price_per_hour=Decimal("0.100000"), status=OfferStatus.WITHDRAWN)

    assert catalog_summary() == CatalogSummary(2, 2, Decimal("2.000000"))


def test_the_home_page_counts_once_then_reads_the_cache(client, django_assert_num_queries):
    # given a first visit, which counted one offer
    OfferFactory()
    client.get("/")

    # when another offer is listed and the page is visited again within the minute
    OfferFactory()
    with django_assert_num_queries(0):
        second = client.get("/").content.decode()

    # then it shows the figure it counted; once the entry goes, the new one
    assert 'id="offer-count">1<' in second
    cache.delete(CACHE_KEY)
    assert 'id="offer-count">2<' in client.get("/").content.decode()


# The next two run in this order: without a cache of its own per test, the second would read
# the figures the first cached a moment before.
def test_a_first_test_caches_its_figures(client):
    OfferFactory()

    assert 'id="offer-count">1<' in client.get("/").content.decode()


def test_a_second_test_does_not_see_them(client):
    OfferFactory()
    OfferFactory()

    assert 'id="offer-count">2<' in client.get("/").content.decode()
