"""gpuhunt-catalog: dstack's catalog zips, from files and from a local server."""

from __future__ import annotations

import io
import time
import zipfile
from decimal import Decimal
from pathlib import Path

from werkzeug import Request, Response

from brokers.sources.base import OfferRow, PricingModel, RowError
from brokers.sources.gpuhunt import GpuhuntCatalogSource
from brokers.tests.provider_server import provider_server_fixture  # noqa: F401
from marketplace.gpu_names import resolve

SAMPLES = Path(__file__).resolve().parent / "samples" / "gpuhunt"


def zip_of(*providers: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for provider in providers:
            archive.write(SAMPLES / f"{provider}.csv", f"{provider}.csv")
    return buffer.getvalue()


def split(items) -> tuple[list[OfferRow], list[RowError]]:
    items = list(items)
    return [i for i in items if isinstance(i, OfferRow)], [
        i for i in items if isinstance(i, RowError)
    ]


def find(offers, **fields) -> list[OfferRow]:
    return [o for o in offers if all(getattr(o, k) == v for k, v in fields.items())]


def test_it_reads_a_folder_of_provider_zips(tmp_path):
    for provider in ("aws", "lambdalabs"):
        (tmp_path / f"{provider}.zip").write_bytes(zip_of(provider))

    offers, errors = split(GpuhuntCatalogSource().fetch(path=str(tmp_path)))

    assert {o.provider for o in offers} == {"aws", "lambda"}  # lambdalabs is our "lambda"
    (h100x8,) = find(offers, sku="gpu_8x_h100_sxm5")
    assert (h100x8.gpu_label, h100x8.gpu_count, h100x8.gpu_memory_mib) == ("H100", 8, 81920)
    assert (h100x8.price_per_hour, h100x8.region, h100x8.pricing) == (
        Decimal("23.920000"), "us-west-1", PricingModel.ON_DEMAND,
    )  # fmt: skip
    assert (h100x8.vcpus, h100x8.memory_gb, h100x8.disk_gb) == (
        Decimal(208),
        Decimal("1800.0"),
        Decimal(22528),
    )
    assert [(e.where, e.reason) for e in errors] == [
        ("aws.zip/aws.csv:7", "non-numeric price 'n/a'")
    ]


def test_it_tells_spot_from_on_demand():
    offers, _ = split(GpuhuntCatalogSource().fetch(path=str(SAMPLES / "aws.csv")))

    p4d = find(offers, sku="p4d.24xlarge")
    assert {(o.pricing, o.price_per_hour) for o in p4d} == {
        (PricingModel.ON_DEMAND, Decimal("32.772600")),
        (PricingModel.SPOT, Decimal("9.831800")),
    }
    assert resolve(p4d[0].gpu_label, p4d[0].gpu_memory_mib).key == ("nvidia", "A100", 40)


def test_it_yields_cpu_rows_without_a_gpu():
    offers, _ = split(GpuhuntCatalogSource().fetch(path=str(SAMPLES / "aws.csv")))

    (t3,) = find(offers, sku="t3.large")
    assert (t3.gpu_label, t3.gpu_count, t3.gpu_memory_mib) == ("", 0, None)


def test_it_keeps_vendor_flags_arch_and_provider_data(tmp_path):
    (tmp_path / "catalog.zip").write_bytes(zip_of("gcp", "aws"))

    offers, _ = split(GpuhuntCatalogSource().fetch(path=str(tmp_path / "catalog.zip")))

    (a3,) = find(offers, sku="a3-highgpu-8g")
    assert a3.provider == "gcp"
    assert a3.extra == {
        "gpu_vendor": "nvidia",
        "cpu_arch": "x86",
        "flags": ["gcp-a3", "dws-flex"],
        "provider_data": {"accelerator_type": "nvidia-h100-80gb", "host_price": "54.64"},
    }
    (tpu,) = find(offers, sku="v5litepod-8")
    assert (tpu.gpu_label, tpu.gpu_count) == ("v5litepod", 8)
    assert find(offers, sku="g5g.xlarge")[0].extra["cpu_arch"] == "arm"


def test_a_file_without_the_catalog_columns_fails_as_a_whole():
    offers, errors = split(GpuhuntCatalogSource().fetch(path=str(SAMPLES / "broken.csv")))

    assert offers == []
    assert errors[0].where == "source gpuhunt-catalog: broken.csv"
    assert errors[0].reason == "missing columns: price, gpu_count"


def test_a_file_that_is_not_a_zip_fails_as_a_whole(tmp_path):
    (tmp_path / "aws.zip").write_text("not a zip")

    _, errors = split(GpuhuntCatalogSource().fetch(path=str(tmp_path)))

    assert errors[0].where == "source gpuhunt-catalog: aws.zip"


def test_it_downloads_the_latest_catalog(provider_server):
    provider_server.expect_request("/v2/version").respond_with_data("20250601\n")
    provider_server.expect_request("/v2/20250601/catalog.zip").respond_with_data(
        zip_of("aws", "lambdalabs", "gcp"), content_type="application/zip"
    )
    source = GpuhuntCatalogSource(base_url=provider_server.url_for("/v2"), max_retries=0)

    offers, errors = split(source.fetch())

    assert {o.provider for o in offers} == {"aws", "lambda", "gcp"}
    assert len(offers) == 6 + 3 + 2
    assert [(e.where, e.reason) for e in errors] == [
        ("20250601/catalog.zip/aws.csv:7", "non-numeric price 'n/a'")
    ]


def test_a_server_error_is_reported_not_raised(provider_server):
    provider_server.expect_request("/v2/version").respond_with_data("oops", status=500)
    source = GpuhuntCatalogSource(base_url=provider_server.url_for("/v2"), max_retries=0)

    offers, errors = split(source.fetch())

    assert offers == []
    assert errors[0].where == provider_server.url_for("/v2/version")
    assert "HTTP 500" in errors[0].reason


def test_a_timeout_is_reported_not_raised(provider_server):
    def slow(request: Request) -> Response:
        time.sleep(0.3)
        return Response(zip_of("aws"))

    provider_server.expect_request("/v2/version").respond_with_data("20250601")
    provider_server.expect_request("/v2/20250601/catalog.zip").respond_with_handler(slow)
    source = GpuhuntCatalogSource(
        base_url=provider_server.url_for("/v2"), max_retries=0, timeout=(1, 0.1)
    )

    offers, errors = split(source.fetch())

    assert offers == []
    assert errors[0].where.startswith("http")
    assert "timeout" in errors[0].reason


def test_an_unchanged_catalog_is_not_downloaded_again(provider_server):
    # S3 sends an ETag and answers If-None-Match with 304
    provider_server.expect_request("/v2/version").respond_with_data("20250601\n")
    provider_server.expect_request(
        "/v2/20250601/catalog.zip", headers={"If-None-Match": '"abc"'}
    ).respond_with_data("", status=304)
    provider_server.expect_request("/v2/20250601/catalog.zip").respond_with_data(
        zip_of("lambdalabs"), content_type="application/zip", headers={"ETag": '"abc"'}
    )
    source = GpuhuntCatalogSource(base_url=provider_server.url_for("/v2"), max_retries=0)

    for first in source.inputs():  # read while it is current: the download goes after
        offers, _ = split(first.read())
    (again,) = source.inputs(previous={"catalog.zip": first.fingerprint})

    assert (first.name, first.fingerprint, len(offers)) == ("catalog.zip", 'etag:"abc"', 3)
    assert (again.name, again.fingerprint) == ("catalog.zip", 'etag:"abc"')
    sent = [r.headers.get("If-None-Match") for r, _ in provider_server.log if "zip" in r.path]
    assert sent == [None, '"abc"']
