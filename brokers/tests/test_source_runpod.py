"""runpod: RunPod GraphQL `gpuTypes`, against a local server."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path

from werkzeug import Request, Response

from brokers.sources.base import OfferRow, PricingModel, RowError
from brokers.sources.runpod import GPU_TYPES_QUERY, RunpodSource
from brokers.tests.provider_server import provider_server_fixture  # noqa: F401
from marketplace.gpu_names import resolve

SAMPLES = Path(__file__).resolve().parent / "samples" / "runpod"
KEY = "rpa_SECRETKEY123"


def split(items) -> tuple[list[OfferRow], list[RowError]]:
    items = list(items)
    return [i for i in items if isinstance(i, OfferRow)], [
        i for i in items if isinstance(i, RowError)
    ]


def source_for(server, **options) -> RunpodSource:
    return RunpodSource(base_url=server.url_for("/graphql"), api_key=KEY, max_retries=0, **options)


def test_it_posts_the_query_and_models_each_cloud_and_pricing_as_offers(provider_server):
    provider_server.expect_request(
        "/graphql",
        method="POST",
        json={"query": GPU_TYPES_QUERY},
        headers={"Authorization": f"Bearer {KEY}"},
    ).respond_with_data((SAMPLES / "gpu-types.json").read_bytes(), content_type="application/json")

    offers, errors = split(source_for(provider_server).fetch())

    h100 = {
        (o.sku, o.pricing): (o.gpu_count, o.price_per_hour)
        for o in offers
        if o.gpu_label.startswith("NVIDIA H100")
    }
    assert h100 == {
        ("NVIDIA H100 80GB HBM3:secure", PricingModel.ON_DEMAND): (1, Decimal("2.990000")),
        ("NVIDIA H100 80GB HBM3:secure:8x", PricingModel.ON_DEMAND): (8, Decimal("23.920000")),
        ("NVIDIA H100 80GB HBM3:secure", PricingModel.SPOT): (1, Decimal("1.750000")),
        ("NVIDIA H100 80GB HBM3:secure:8x", PricingModel.SPOT): (8, Decimal("14.000000")),
        ("NVIDIA H100 80GB HBM3:community", PricingModel.ON_DEMAND): (1, Decimal("2.690000")),
        ("NVIDIA H100 80GB HBM3:community:8x", PricingModel.ON_DEMAND): (8, Decimal("21.520000")),
        ("NVIDIA H100 80GB HBM3:community", PricingModel.SPOT): (1, Decimal("1.490000")),
        ("NVIDIA H100 80GB HBM3:community:8x", PricingModel.SPOT): (8, Decimal("11.920000")),
    }
    assert len(offers) == 8 + 2 + 2
    assert [(e.where, e.reason.split(":")[0]) for e in errors] == [
        ("gpuTypes[4]", "unreadable GPU type")
    ]


def test_spot_offers_are_marked_as_bid_floors():
    offers, _ = split(RunpodSource().fetch(path=str(SAMPLES / "gpu-types.json")))

    spot = [o for o in offers if o.pricing == PricingModel.SPOT]
    assert spot and all(o.extra["bid_floor"] is True for o in spot)
    assert all("bid_floor" not in o.extra for o in offers if o.pricing == PricingModel.ON_DEMAND)
    a100_spot = next(o for o in spot if o.sku == "NVIDIA A100 80GB PCIe:secure")
    assert a100_spot.extra["minimum_bid_price"] == "0.82"


def test_it_skips_clouds_and_prices_a_type_does_not_have():
    offers, _ = split(RunpodSource().fetch(path=str(SAMPLES / "gpu-types.json")))

    a100 = {o.sku for o in offers if o.gpu_label == "NVIDIA A100 80GB PCIe"}
    mi300x = {(o.sku, o.pricing) for o in offers if o.gpu_label == "AMD Instinct MI300X OAM"}
    assert a100 == {"NVIDIA A100 80GB PCIe:secure"}  # no community cloud, max 1 GPU
    assert mi300x == {
        ("AMD Instinct MI300X OAM:secure", PricingModel.ON_DEMAND),
        ("AMD Instinct MI300X OAM:secure:8x", PricingModel.ON_DEMAND),
    }  # a spot price of 0 is no spot offer


def test_labels_resolve_with_the_reported_memory():
    offers, _ = split(RunpodSource().fetch(path=str(SAMPLES / "gpu-types.json")))

    keys = {resolve(o.gpu_label, o.gpu_memory_mib).key for o in offers}
    assert keys == {("nvidia", "H100", 80), ("nvidia", "A100", 80), ("amd", "MI300X", 192)}


def test_graphql_errors_fail_the_source(provider_server):
    provider_server.expect_request("/graphql", method="POST").respond_with_data(
        (SAMPLES / "graphql-error.json").read_bytes(), content_type="application/json"
    )

    offers, errors = split(source_for(provider_server).fetch())

    assert offers == []
    assert [(e.where, e.reason) for e in errors] == [
        ("source runpod: gpuTypes", "GraphQL errors: Unauthorized: invalid api key")
    ]


def test_http_failures_are_reported_not_raised(provider_server):
    def slow(request: Request) -> Response:
        time.sleep(0.3)
        return Response(json.dumps({"data": {"gpuTypes": []}}), content_type="application/json")

    provider_server.expect_ordered_request("/graphql", method="POST").respond_with_data(
        "down", status=500
    )
    provider_server.expect_ordered_request("/graphql", method="POST").respond_with_json(
        {"error": f"bad key {KEY}"}, status=401
    )
    provider_server.expect_ordered_request("/graphql", method="POST").respond_with_handler(slow)
    source = source_for(provider_server, timeout=(1, 0.1))

    reasons = [split(source.fetch())[1][0].reason for _ in range(3)]

    assert ["HTTP 500" in reasons[0], "HTTP 401" in reasons[1], "timeout" in reasons[2]] == [
        True,
        True,
        True,
    ]
    assert all(KEY not in reason for reason in reasons)


def test_a_missing_key_fails_the_source(settings):
    settings.RUNPOD_API_KEY = ""

    _, errors = split(RunpodSource(base_url="http://127.0.0.1:9").fetch())

    assert errors[0].where == "source runpod: RUNPOD_API_KEY"
