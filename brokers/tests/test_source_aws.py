"""aws: the EC2 price list CSV and spot price history, from files and from a local server."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

from werkzeug import Request, Response

from brokers.sources.aws import AwsPricingSource, region_of_zone
from brokers.sources.base import OfferRow, PricingModel, RowError
from brokers.tests.provider_server import provider_server_fixture  # noqa: F401
from marketplace.gpu_names import resolve

SAMPLES = Path(__file__).resolve().parent / "samples" / "aws"


def split(items) -> tuple[list[OfferRow], list[RowError]]:
    items = list(items)
    return [i for i in items if isinstance(i, OfferRow)], [
        i for i in items if isinstance(i, RowError)
    ]


def find(offers, **fields) -> list[OfferRow]:
    return [o for o in offers if all(getattr(o, k) == v for k, v in fields.items())]


def test_it_keeps_only_on_demand_linux_shared_used_rows():
    offers, _ = split(AwsPricingSource().fetch(path=str(SAMPLES / "index.csv")))

    (p4d,) = find(offers, sku="p4d.24xlarge")  # not the reserved/dedicated/Windows/SQL rows
    assert (p4d.pricing, p4d.price_per_hour, p4d.region, p4d.currency) == (
        PricingModel.ON_DEMAND, Decimal("32.772600"), "us-east-1", "USD",
    )  # fmt: skip
    assert (p4d.vcpus, p4d.memory_gb, p4d.disk_gb) == (Decimal(96), Decimal(1152), Decimal(8000))
    assert sorted(o.sku for o in offers) == [
        "g5.xlarge",
        "g6e.12xlarge",
        "g7x.2xlarge",
        "m5.large",
        "p4d.24xlarge",
        "p5.48xlarge",
    ]


def test_it_names_the_gpu_from_the_instance_family():
    offers, _ = split(AwsPricingSource().fetch(path=str(SAMPLES / "index.csv")))

    resolved = {
        o.sku: (resolve(o.gpu_label, o.gpu_memory_mib).key, o.gpu_count)
        for o in offers
        if o.gpu_label and resolve(o.gpu_label, o.gpu_memory_mib)
    }
    assert resolved == {
        "p4d.24xlarge": (("nvidia", "A100", 40), 8),
        "p5.48xlarge": (("nvidia", "H100", 80), 8),
        "g5.xlarge": (("nvidia", "A10G", 24), 1),
        "g6e.12xlarge": (("nvidia", "L40S", 48), 4),
    }
    (unknown_family,) = find(offers, sku="g7x.2xlarge")
    assert (unknown_family.gpu_label, unknown_family.gpu_count) == (
        "g7x",
        1,
    )  # recorded, not dropped
    (cpu,) = find(offers, sku="m5.large")
    assert (cpu.gpu_label, cpu.gpu_count, cpu.disk_gb) == ("", 0, None)


def test_it_reports_bad_rows_with_their_line():
    _, errors = split(AwsPricingSource().fetch(path=str(SAMPLES / "index.csv")))

    assert [(e.where, e.reason) for e in errors] == [
        ("index.csv:18", "non-numeric PricePerUnit 'abc'"),
        ("index.csv:19", "expected 33 fields, got 4"),
    ]


def test_it_takes_the_latest_linux_spot_price_per_zone_with_specs_from_the_price_list():
    offers, errors = split(AwsPricingSource().fetch(path=str(SAMPLES)))

    spot = find(offers, pricing=PricingModel.SPOT)
    assert sorted((o.sku, o.zone, o.region, o.price_per_hour) for o in spot) == [
        ("g5.12xlarge", "us-east-1c", "us-east-1", Decimal("2.100000")),
        ("m5.large", "us-east-1a", "us-east-1", Decimal("0.035000")),
        ("p4d.24xlarge", "us-east-1a", "us-east-1", Decimal("9.831800")),
        ("p4d.24xlarge", "us-east-1b", "us-east-1", Decimal("10.120000")),
    ]
    p4d = find(spot, sku="p4d.24xlarge")[0]
    assert (p4d.gpu_label, p4d.gpu_count, p4d.vcpus) == ("A100", 8, Decimal(96))
    g5 = find(spot, sku="g5.12xlarge")[0]  # not in the price list: the family table counts
    assert (g5.gpu_label, g5.gpu_count, g5.vcpus) == ("A10G", 4, None)
    assert "spot-history.json p5.48xlarge us-east-1d" in [e.where for e in errors]


def test_region_of_zone():
    assert region_of_zone("us-east-1a") == "us-east-1"
    assert region_of_zone("us-east-1-atl-2a") == "us-east-1"
    assert region_of_zone("us-gov-west-1b") == "us-gov-west-1"


def test_it_downloads_price_lists_and_spot_history(provider_server):
    provider_server.expect_request("/offers/us-east-1/index.csv").respond_with_data(
        (SAMPLES / "index.csv").read_bytes(), content_type="text/csv"
    )
    provider_server.expect_request("/spot/us-east-1.json").respond_with_data(
        (SAMPLES / "spot-history.json").read_bytes(), content_type="application/json"
    )
    source = AwsPricingSource(
        price_list_urls=[provider_server.url_for("/offers/us-east-1/index.csv")],
        spot_price_urls=[provider_server.url_for("/spot/us-east-1.json")],
        max_retries=0,
    )

    offers, errors = split(source.fetch())

    assert len(find(offers, pricing=PricingModel.ON_DEMAND)) == 6
    assert len(find(offers, pricing=PricingModel.SPOT)) == 4
    assert not [e for e in errors if e.where.startswith("http")]  # bad rows are not source failures
    assert [e.where for e in errors] == ["offers/us-east-1/index.csv:18", "offers/us-east-1/index.csv:19",
                                         "spot/us-east-1.json p5.48xlarge us-east-1d"]  # fmt: skip


def test_http_failures_are_reported_not_raised(provider_server):
    def slow(request: Request) -> Response:
        time.sleep(0.3)
        return Response("{}")

    provider_server.expect_request("/offers/us-east-1/index.csv").respond_with_data(
        "boom", status=500
    )
    provider_server.expect_request("/offers/eu-west-1/index.csv").respond_with_data(
        "denied", status=403
    )
    provider_server.expect_request("/spot/slow.json").respond_with_handler(slow)
    source = AwsPricingSource(
        price_list_urls=[
            provider_server.url_for("/offers/us-east-1/index.csv"),
            provider_server.url_for("/offers/eu-west-1/index.csv"),
        ],
        spot_price_urls=[provider_server.url_for("/spot/slow.json")],
        max_retries=0,
        timeout=(1, 0.1),
    )

    offers, errors = split(source.fetch())

    assert offers == []
    assert [e.where for e in errors] == [
        provider_server.url_for("/offers/us-east-1/index.csv"),
        provider_server.url_for("/offers/eu-west-1/index.csv"),
        provider_server.url_for("/spot/slow.json"),
    ]
    assert ["HTTP 500" in errors[0].reason, "HTTP 403" in errors[1].reason, "timeout" in errors[2].reason] == [
        True, True, True,
    ]  # fmt: skip


def test_a_file_without_a_header_fails_as_a_whole(tmp_path):
    (tmp_path / "index.csv").write_text('"FormatVersion","v1.0"\n"nothing","here"\n')

    offers, errors = split(AwsPricingSource().fetch(path=str(tmp_path / "index.csv")))

    assert offers == []
    assert [(e.where, e.reason) for e in errors] == [
        ("source aws: index.csv", "no header row starting with SKU")
    ]
