"""Catalog clouds we hold a key for are reservable, and stop being so when the key goes; the
listings say which providers are reservable, why not, and how fresh their prices are."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.cache import cache

from marketplace.models import GpuModel, ProviderKind
from marketplace.search import clear_catalog_cache
from marketplace.selectors.catalog_providers import CACHE_KEY
from tests.factories import OfferFactory, ProviderFactory

pytestmark = pytest.mark.django_db
NOW = datetime(2031, 3, 4, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_caches():
    clear_catalog_cache()
    cache.delete(CACHE_KEY)


def offer(provider, price: str, **fields):
    price = Decimal(price)
    return OfferFactory(
        provider=provider, gpu=GpuModel.objects.get(name="H100", memory_gb=80), gpu_count=8,
        price_per_hour=price, price_per_gpu_hour=price / 8, **fields,
    )  # fmt: skip


@pytest.fixture
def market():
    """Lambda (a catalog cloud with its launcher) at $20/h, a simulated cloud at $24/h."""
    lambda_cloud = ProviderFactory(slug="lambda", launcher="lambda", kind=ProviderKind.CLOUD)
    here = ProviderFactory(slug="simcloud")
    return offer(lambda_cloud, "20", observed_at=NOW), offer(here, "24", observed_at=NOW)


def quote(api_client, buyer):
    with time_machine.travel(NOW, tick=False):
        response = api_client.post(
            "/api/v1/quotes/", {"gpu": "H100:8", "hours": 1}, format="json", **buyer.headers
        )
    assert response.status_code == 201, response.content
    return response.json()


def test_without_its_key_lambda_is_listed_elsewhere_and_cannot_be_reserved(
    api_client, buyer, market, settings
):
    settings.LAMBDA_API_KEY = ""
    lambda_offer, sim_offer = market

    answer = quote(api_client, buyer)

    assert [q["legs"][0]["offer"] for q in answer["quotes"]] == [sim_offer.pk]
    (elsewhere,) = answer["elsewhere"]
    assert (elsewhere["offer"], elsewhere["reason"]) == (lambda_offer.pk, "not_reservable")
    assert "LAMBDA_API_KEY is not set" in elsewhere["detail"]
    refused = api_client.post(
        "/api/v1/reservations/", {"offer": lambda_offer.pk, "hours": "1"}, format="json",
        **buyer.headers,
    )  # fmt: skip
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "not_launchable"


def test_with_its_key_lambda_is_quoted_first(api_client, buyer, market, settings):
    settings.LAMBDA_API_KEY = "secret_lambda_key"
    lambda_offer, sim_offer = market

    answer = quote(api_client, buyer)

    assert [q["legs"][0]["offer"] for q in answer["quotes"]] == [lambda_offer.pk, sim_offer.pk]
    assert answer["elsewhere"] == []
    # and each quote says how old the prices it used are
    assert answer["quotes"][0]["prices_observed_at"] == "2031-03-04T12:00:00Z"


def test_a_quote_says_how_old_its_oldest_price_is(api_client, buyer, settings):
    here = ProviderFactory(slug="simcloud")
    old = offer(here, "24", observed_at=NOW - timedelta(hours=2, minutes=5))

    answer = quote(api_client, buyer)

    assert answer["quotes"][0]["legs"][0]["offer"] == old.pk
    assert answer["quotes"][0]["prices_observed_at"] == "2031-03-04T09:55:00Z"


def test_the_providers_listing_says_what_is_reservable_and_how_fresh(client, market, settings):
    settings.LAMBDA_API_KEY = ""
    aws = ProviderFactory(slug="aws", launcher="", kind=ProviderKind.CLOUD)
    offer(aws, "50", observed_at=NOW - timedelta(hours=3))
    offer(aws, "55", observed_at=NOW - timedelta(hours=5))

    with time_machine.travel(NOW + timedelta(minutes=10), tick=False):
        body = client.get("/api/v1/catalog/providers/").json()

    rows = {row["slug"]: row for row in body["results"]}
    assert set(rows) == {"aws", "lambda", "simcloud"}
    assert (rows["simcloud"]["reservable"], rows["simcloud"]["why_not_reservable"]) == (True, "")
    assert rows["lambda"]["reservable"] is False
    assert "LAMBDA_API_KEY is not set" in rows["lambda"]["why_not_reservable"]
    assert "listed from its public prices" in rows["aws"]["why_not_reservable"]
    # aws's newest price is 3 h old, seen 10 min later
    assert rows["aws"]["offers"] == 2
    assert rows["aws"]["last_synced_at"] == "2031-03-04T09:00:00Z"
    assert rows["aws"]["data_age_seconds"] == 3 * 3600 + 600


def test_the_offers_page_marks_what_can_be_reserved_here(client, market, settings):
    settings.LAMBDA_API_KEY = ""
    lambda_offer, sim_offer = market

    html = client.get("/offers/").content.decode()

    assert f"/offers/{sim_offer.pk}/reserve/" in html
    assert f"/offers/{lambda_offer.pk}/reserve/" not in html
    assert html.count("listed for comparison") == 1


def test_the_offers_page_lists_the_providers_and_their_data_age(client, market, settings):
    settings.LAMBDA_API_KEY = ""

    with time_machine.travel(NOW + timedelta(hours=2), tick=False):
        html = client.get("/offers/").content.decode()

    providers = html[html.index('id="providers"') :]
    assert "LAMBDA_API_KEY is not set" in providers
    assert "2\xa0hours" in providers
