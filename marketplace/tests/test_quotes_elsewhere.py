"""A quote's `elsewhere`: the cheapest offers that fit the request but cannot be reserved
here, priced all-in at their provider's published rates, with why not here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from marketplace.models import GpuModel, OfferStatus
from marketplace.search import clear_catalog_cache
from tests.factories import OfferFactory, ProviderFactory

pytestmark = pytest.mark.django_db
NOW = datetime(2031, 3, 4, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_catalog_cache():
    clear_catalog_cache()


def offer(provider, price: str, gpu_count=8, **fields):
    price = Decimal(price)
    return OfferFactory(
        provider=provider, gpu=GpuModel.objects.get(name="H100", memory_gb=80),
        gpu_count=gpu_count, price_per_hour=price, price_per_gpu_hour=price / gpu_count,
        **fields,
    )  # fmt: skip


def quote(api_client, buyer, **body):
    with time_machine.travel(NOW, tick=False):
        response = api_client.post(
            "/api/v1/quotes/", {"gpu": "H100:8", "hours": 10, **body}, format="json",
            **buyer.headers,
        )  # fmt: skip
    assert response.status_code == 201, response.content
    return response.json()


@pytest.fixture
def market():
    """A reservable provider at $24/h; a catalog cloud (no launcher) at $20 and $30/h."""
    here = ProviderFactory(slug="herecloud")
    catalog = ProviderFactory(slug="catalogcloud", launcher="", boot_seconds=0)
    return {
        "here": offer(here, "24", observed_at=NOW),
        "cheaper": offer(catalog, "20", observed_at=NOW),
        "dearer": offer(catalog, "30", observed_at=NOW),
        "catalog": catalog,
        "here_provider": here,
    }


def test_it_lists_the_cheaper_catalog_offer_beside_the_quote(api_client, buyer, market):
    answer = quote(api_client, buyer, disk_gb=100)

    assert [q["legs"][0]["offer"] for q in answer["quotes"]] == [market["here"].pk]
    rows = answer["elsewhere"]
    assert [row["offer"] for row in rows] == [market["cheaper"].pk, market["dearer"].pk]
    first = rows[0]
    assert (first["provider"], first["gpus"], first["price_per_hour"]) == (
        "catalogcloud", 8, "20.000000",
    )  # fmt: skip
    # 10 h × $20 = 200.00 compute, no boot (0 s), disk 100 GB × $0.10/GB-month for 10 h:
    # 0.10 × 100 / 730 = 0.013699/h → 0.14; no egress
    assert first["total"] == "200.14"
    assert first["reason"] == "not_reservable"
    assert "catalogcloud" in first["detail"]


def test_stale_and_sold_out_offers_of_reservable_providers_are_listed_with_why(
    api_client, buyer, market
):
    here = market["here_provider"]
    stale = offer(here, "21", status=OfferStatus.STALE, observed_at=NOW - timedelta(hours=30))
    sold_out = offer(here, "22", available=0, observed_at=NOW)

    rows = {row["offer"]: row for row in quote(api_client, buyer)["elsewhere"]}

    assert rows[stale.pk]["reason"] == "stale"
    assert "30 h ago" in rows[stale.pk]["detail"]
    assert rows[sold_out.pk]["reason"] == "unavailable"
    assert market["here"].pk not in rows


def test_it_keeps_to_the_request_and_leaves_suspect_prices_out(api_client, buyer, market):
    catalog = market["catalog"]
    offer(catalog, "8", suspect=True, observed_at=NOW)  # a bid floor, not a price
    offer(catalog, "10", gpu_count=4, observed_at=NOW)  # too few GPUs for H100:8
    offer(catalog, "19", pricing="spot", observed_at=NOW)  # not the pricing asked for

    rows = quote(api_client, buyer)["elsewhere"]

    assert [row["offer"] for row in rows] == [market["cheaper"].pk, market["dearer"].pk]


def test_it_lists_the_cheapest_five(api_client, buyer, market):
    for price in ("31", "32", "33", "34", "35"):
        offer(market["catalog"], price, observed_at=NOW)

    rows = quote(api_client, buyer)["elsewhere"]

    assert [row["price_per_hour"] for row in rows] == [
        "20.000000", "30.000000", "31.000000", "32.000000", "33.000000",
    ]  # fmt: skip
