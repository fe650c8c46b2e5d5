"""lambda: Lambda Cloud `GET /api/v1/instance-types`, against a local server."""

from __future__ import annotations

import json
import logging
import time
from decimal import Decimal
from pathlib import Path

from werkzeug import Request, Response

from brokers.sources.base import OfferRow, RowError
from brokers.sources.lambda_cloud import LambdaCloudSource
from brokers.tests.provider_server import provider_server_fixture  # noqa: F401
from marketplace.gpu_names import resolve

SAMPLE = Path(__file__).resolve().parent / "samples" / "lambda" / "instance-types.json"
KEY = "secret_lambda_9f8e7d6c"


def split(items) -> tuple[list[OfferRow], list[RowError]]:
    items = list(items)
    return [i for i in items if isinstance(i, OfferRow)], [
        i for i in items if isinstance(i, RowError)
    ]


def source_for(server, **options) -> LambdaCloudSource:
    return LambdaCloudSource(
        base_url=server.url_for("/api/v1"), api_key=KEY, max_retries=0, **options
    )


def test_it_lists_one_offer_per_region_with_capacity(provider_server):
    provider_server.expect_request(
        "/api/v1/instance-types", headers={"Authorization": f"Bearer {KEY}"}
    ).respond_with_data(SAMPLE.read_bytes(), content_type="application/json")

    offers, errors = split(source_for(provider_server).fetch())

    h100 = [o for o in offers if o.sku == "gpu_8x_h100_sxm5"]
    assert sorted((o.region, o.available) for o in h100) == [("us-east-1", 1), ("us-west-3", 1)]
    first = h100[0]
    assert (first.gpu_label, first.gpu_count, first.gpu_memory_mib) == (
        "H100 (80 GB SXM5)",
        8,
        81920,
    )
    assert (first.price_per_hour, first.vcpus, first.memory_gb, first.disk_gb) == (
        Decimal("23.920000"), Decimal(208), Decimal(1800), Decimal(22528),
    )  # fmt: skip
    assert first.interconnect == "sxm"
    assert resolve(first.gpu_label, first.gpu_memory_mib).key == ("nvidia", "H100", 80)
    assert [(e.where, e.reason.split(":")[0]) for e in errors] == [
        ("instance-types gpu_broken", "unreadable instance type")
    ]


def test_a_sold_out_type_stays_listed_without_a_region_and_unavailable():
    offers, _ = split(LambdaCloudSource().fetch(path=str(SAMPLE)))

    (a100,) = [o for o in offers if o.sku == "gpu_1x_a100_sxm4"]
    assert (a100.region, a100.available, a100.price_per_hour) == ("", 0, Decimal("1.290000"))
    assert resolve(a100.gpu_label, a100.gpu_memory_mib).key == ("nvidia", "A100", 40)


def test_cpu_types_have_no_gpu():
    offers, _ = split(LambdaCloudSource().fetch(path=str(SAMPLE)))

    (cpu,) = [o for o in offers if o.sku == "cpu_4x_general"]
    assert (cpu.gpu_label, cpu.gpu_count, cpu.region, cpu.price_per_hour) == (
        "", 0, "europe-central-1", Decimal("0.200000"),
    )  # fmt: skip


def test_a_missing_key_fails_the_source_without_calling_out(settings):
    settings.LAMBDA_API_KEY = ""

    offers, errors = split(LambdaCloudSource(base_url="http://127.0.0.1:9").fetch())

    assert offers == []
    assert [(e.where, e.reason) for e in errors] == [
        ("source lambda: LAMBDA_API_KEY", "no API key configured")
    ]


def test_a_rejected_key_is_reported_without_the_key(provider_server, caplog):
    provider_server.expect_request("/api/v1/instance-types").respond_with_json(
        {"error": {"code": "global/invalid-api-key", "message": f"API key {KEY} was invalid"}},
        status=401,
    )
    caplog.set_level(logging.DEBUG)

    offers, errors = split(source_for(provider_server).fetch())

    assert offers == []
    assert errors[0].where == provider_server.url_for("/api/v1/instance-types")
    assert "HTTP 401" in errors[0].reason and "invalid-api-key" in errors[0].reason
    assert KEY not in errors[0].reason
    assert all(
        KEY not in r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug")
    )


def test_a_server_error_and_a_timeout_are_reported_not_raised(provider_server):
    def slow(request: Request) -> Response:
        time.sleep(0.3)
        return Response(json.dumps({"data": {}}), content_type="application/json")

    provider_server.expect_ordered_request("/api/v1/instance-types").respond_with_data(
        "oops", status=500
    )
    provider_server.expect_ordered_request("/api/v1/instance-types").respond_with_handler(slow)
    source = source_for(provider_server, timeout=(1, 0.1))

    _, first = split(source.fetch())
    _, second = split(source.fetch())

    assert "HTTP 500" in first[0].reason
    assert "timeout" in second[0].reason
    assert first[0].where.startswith("http") and second[0].where.startswith("http")
