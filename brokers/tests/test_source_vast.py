"""vast: Vast.ai offer search (`bundles`), against a local server."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path

from werkzeug import Request, Response

from brokers.sources.base import OfferRow, PricingModel, RowError
from brokers.sources.vast import DEFAULT_QUERY, VastSource
from brokers.tests.provider_server import provider_server_fixture  # noqa: F401
from marketplace.gpu_names import resolve
from marketplace.locations import locate

SAMPLE = Path(__file__).resolve().parent / "samples" / "vast" / "bundles.json"


def split(items) -> tuple[list[OfferRow], list[RowError]]:
    items = list(items)
    return [i for i in items if isinstance(i, OfferRow)], [
        i for i in items if isinstance(i, RowError)
    ]


def source_for(server, **options) -> VastSource:
    return VastSource(base_url=server.url_for("/api/v0"), max_retries=0, **options)


def test_it_searches_offers_and_yields_one_on_demand_row_per_offer(provider_server):
    provider_server.expect_request(
        "/api/v0/bundles/", query_string={"q": json.dumps(DEFAULT_QUERY, separators=(",", ":"))}
    ).respond_with_data(SAMPLE.read_bytes(), content_type="application/json")

    offers, errors = split(source_for(provider_server).fetch())

    on_demand = [o for o in offers if o.pricing == PricingModel.ON_DEMAND]
    assert sorted(o.sku for o in on_demand) == ["21474836", "21474900", "21475011"]
    rtx = next(o for o in on_demand if o.sku == "21474836")
    assert (rtx.gpu_label, rtx.gpu_count, rtx.gpu_memory_mib) == ("RTX 4090", 2, 24564)
    assert rtx.price_per_hour == Decimal("0.713889")
    assert (rtx.vcpus, rtx.memory_gb, rtx.disk_gb) == (
        Decimal("32.0"),
        Decimal("126.00"),
        Decimal("500.0"),
    )
    assert (rtx.region, rtx.reliability, rtx.available) == ("Texas, US", Decimal("0.9978"), 1)
    assert rtx.extra["machine_id"] == 31415 and rtx.extra["inet_down"] == "912.3"
    assert [(e.where, e.reason) for e in errors] == [
        ("offer 21475099", "unreadable offer: non-numeric dph_total 'free!'")
    ]


def test_min_bid_is_a_spot_row_marked_as_a_bid_floor():
    offers, _ = split(VastSource().fetch(path=str(SAMPLE)))

    spot = {o.sku: o for o in offers if o.pricing == PricingModel.SPOT}
    assert {sku: o.price_per_hour for sku, o in spot.items()} == {
        "21474836": Decimal("0.301100"),
        "21474900": Decimal("11.200000"),
    }  # the NVL offer has no min_bid
    assert all(o.extra["bid_floor"] is True for o in spot.values())
    assert all("bid_floor" not in o.extra for o in offers if o.pricing == PricingModel.ON_DEMAND)


def test_labels_and_locations_normalise():
    offers, _ = split(VastSource().fetch(path=str(SAMPLE)))

    by_sku = {o.sku: o for o in offers if o.pricing == PricingModel.ON_DEMAND}
    assert resolve(by_sku["21474900"].gpu_label, by_sku["21474900"].gpu_memory_mib).key == (
        "nvidia",
        "H100",
        80,
    )
    assert resolve(by_sku["21475011"].gpu_label, by_sku["21475011"].gpu_memory_mib).key == (
        "nvidia",
        "H100NVL",
        94,
    )
    assert tuple(locate(by_sku["21474900"].region)) == ("CA", "NA")
    assert by_sku["21475011"].reliability == Decimal("1.0000")  # clamped to 0..1
    json.dumps([o.extra for o in offers])  # extra must be storable as JSON


def test_http_failures_are_reported_not_raised(provider_server):
    def slow(request: Request) -> Response:
        time.sleep(0.3)
        return Response('{"offers": []}', content_type="application/json")

    provider_server.expect_ordered_request("/api/v0/bundles/").respond_with_data(
        "Bad Gateway", status=500
    )
    provider_server.expect_ordered_request("/api/v0/bundles/").respond_with_json(
        {"msg": "bad key"}, status=401
    )
    provider_server.expect_ordered_request("/api/v0/bundles/").respond_with_handler(slow)
    source = source_for(provider_server, api_key="vast-secret-key", timeout=(1, 0.1))

    errors = [split(source.fetch())[1] for _ in range(3)]

    assert [len(e) for e in errors] == [1, 1, 1]
    assert all(e[0].where == provider_server.url_for("/api/v0/bundles/") for e in errors)
    assert ["HTTP 500" in errors[0][0].reason, "HTTP 401" in errors[1][0].reason, "timeout" in errors[2][0].reason] == [
        True, True, True,
    ]  # fmt: skip


def test_a_response_without_offers_fails_the_source(provider_server):
    provider_server.expect_request("/api/v0/bundles/").respond_with_json(
        {"success": False, "error": "invalid query"}
    )

    offers, errors = split(source_for(provider_server).fetch())

    assert offers == []
    assert [(e.where, e.reason) for e in errors] == [
        ("source vast: bundles", "response has no `offers` list")
    ]
