"""skypilot-catalog: the real shared catalog files plus hand-written samples of GCP's layout
and of every quirk at once."""

from __future__ import annotations

import csv
import inspect
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from brokers.sources.base import OfferRow, PricingModel, RowError
from brokers.sources.skypilot import SkypilotCatalogSource
from brokers.tests.provider_server import provider_server_fixture  # noqa: F401
from marketplace.gpu_names import resolve

SHARED_CATALOG = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "skypilot-catalog-v8"
)
SAMPLES = Path(__file__).resolve().parent / "samples" / "skypilot"
needs_shared_catalog = pytest.mark.skipif(
    not SHARED_CATALOG.is_dir(), reason="shared SkyPilot catalog not present"
)


def fetch(path: Path | str) -> tuple[list[OfferRow], list[RowError]]:
    items = list(SkypilotCatalogSource().fetch(path=str(path)))
    return [i for i in items if isinstance(i, OfferRow)], [
        i for i in items if isinstance(i, RowError)
    ]


def expected_offer_counts(vms_csv: Path) -> Counter:
    """Counted straight from the file, independently of the source's code:
    a GPU row is one on-demand offer if Price > 0, plus one spot offer if SpotPrice > 0."""
    counts: Counter = Counter()
    with vms_csv.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            kind = "gpu" if row["AcceleratorName"].strip() else "cpu"
            if row["Price"].strip() and float(row["Price"]) > 0:
                counts[(kind, PricingModel.ON_DEMAND)] += 1
            if (row.get("SpotPrice") or "").strip() and float(row["SpotPrice"]) > 0:
                counts[(kind, PricingModel.SPOT)] += 1
    return counts


def find(offers, **fields) -> list[OfferRow]:
    return [o for o in offers if all(getattr(o, k) == v for k, v in fields.items())]


# -- the real shared catalog ---------------------------------------------------------------


@needs_shared_catalog
def test_it_yields_every_gpu_row_of_every_file():
    offers, errors = fetch(SHARED_CATALOG)

    assert errors == []
    clouds = sorted(p.parent.name for p in SHARED_CATALOG.glob("*/vms.csv"))
    assert sorted({o.provider for o in offers}) == clouds
    for cloud in clouds:
        got = Counter(
            ("gpu" if o.gpu_label else "cpu", o.pricing) for o in offers if o.provider == cloud
        )
        assert got == expected_offer_counts(SHARED_CATALOG / cloud / "vms.csv"), cloud


@needs_shared_catalog
def test_every_gpu_label_in_the_shared_files_resolves_to_a_known_gpu():
    offers, _ = fetch(SHARED_CATALOG)

    unknown = {
        (o.provider, o.gpu_label)
        for o in offers
        if o.gpu_label and not resolve(o.gpu_label, o.gpu_memory_mib)
    }

    assert unknown == set()


@needs_shared_catalog
def test_it_reads_mithril_h100_as_the_listed_8_gpu_price():
    offers, _ = fetch(SHARED_CATALOG / "mithril" / "vms.csv")

    (h100x8,) = find(offers, sku="h100-80gb.sxm.8x", pricing=PricingModel.ON_DEMAND)
    assert (h100x8.gpu_label, h100x8.gpu_count) == ("H100", 8)
    assert h100x8.price_per_hour == Decimal("8.000000")
    assert h100x8.gpu_memory_mib == 81920
    assert h100x8.region == "us-central2-a"
    assert h100x8.provider == "mithril"
    # SpotPrice equal to Price is still a spot offer
    assert [
        o.price_per_hour for o in find(offers, sku="h100-80gb.sxm.8x", pricing=PricingModel.SPOT)
    ] == [Decimal("8.000000")]


@needs_shared_catalog
def test_an_aws_row_with_price_and_spot_price_yields_two_offers():
    offers, _ = fetch(SHARED_CATALOG / "aws" / "vms.csv")

    both = find(offers, sku="p4d.24xlarge", zone="apne1-az4")

    assert {(o.pricing, o.price_per_hour) for o in both} == {
        (PricingModel.ON_DEMAND, Decimal("30.097840")),
        (PricingModel.SPOT, Decimal("7.520500")),
    }
    assert {(o.region, o.gpu_label, o.gpu_count, o.vcpus, o.memory_gb) for o in both} == {
        ("ap-northeast-1", "A100", 8, Decimal("96.0"), Decimal("1152.0"))
    }


@needs_shared_catalog
def test_a_zero_spot_price_is_no_spot_offer():
    offers, _ = fetch(SHARED_CATALOG / "vast" / "vms.csv")

    assert offers
    assert find(offers, pricing=PricingModel.SPOT) == []


@needs_shared_catalog
def test_it_turns_float_artefacts_into_six_place_decimals():
    offers, _ = fetch(SHARED_CATALOG / "cudo" / "vms.csv")

    (a40,) = find(offers, sku="ice-lake-a40-compute_1x2v4gb", region="ca-montreal-3")
    assert a40.price_per_hour == Decimal("0.369800")


@needs_shared_catalog
@pytest.mark.parametrize(
    "cloud, sku, region, memory_mib",
    [
        ("hyperstack", "n3-A100x2", "CANADA-1", 81920),  # GpuInfo repr with `null`
        ("lambda", "gpu_8x_a100", "us-east-1", 40960),  # TotalGpuMemoryInMiB is per GPU
        ("vast", "2x-H200-32-65536", "Michigan, US, NA", 143771),  # SizeInMiB is the row total
        ("yotta", "4x56v476g_NVIDIA_GeForce_RTX_5090_32G_SECURE", "us-east-2", 32607),
        ("lium", "B200_1x", "FI", 183296),  # TotalGpuMemoryInMiB inside the GPU entry
    ],
)
def test_it_reads_per_gpu_memory_from_each_gpuinfo_dialect(cloud, sku, region, memory_mib):
    offers, _ = fetch(SHARED_CATALOG / cloud / "vms.csv")

    matching = find(offers, sku=sku, region=region)

    assert matching
    assert {o.gpu_memory_mib for o in matching} == {memory_mib}


@needs_shared_catalog
def test_it_keeps_gpuinfo_names_storage_and_interconnect():
    offers, _ = fetch(SHARED_CATALOG / "hyperbolic" / "vms.csv")

    one = find(offers, sku="1x-H100-75-722")[0]
    assert one.disk_gb == Decimal("800")
    assert one.extra["gpu_model"] == "NVIDIA-H100-80GB-HBM3"
    assert one.region == "default"


@needs_shared_catalog
def test_it_yields_cpu_rows_without_a_gpu():
    offers, _ = fetch(SHARED_CATALOG / "nebius" / "vms.csv")

    cpu = find(offers, sku="cpu-d3_4vcpu-16gb", region="eu-north1")
    assert [(o.gpu_label, o.gpu_count, o.gpu_memory_mib, o.price_per_hour) for o in cpu] == [
        ("", 0, None, Decimal("0.099200"))
    ]


@needs_shared_catalog
def test_it_skips_the_common_accelerators_file():
    offers, _ = fetch(SHARED_CATALOG)

    assert "common" not in {o.provider for o in offers}


def test_fetch_streams():
    assert inspect.isgenerator(SkypilotCatalogSource().fetch(path=str(SAMPLES / "gcp")))


# -- GCP: host and GPU rows added together ------------------------------------------------


def test_it_adds_gcp_host_and_gpu_prices_in_the_same_zone():
    offers, errors = fetch(SAMPLES / "gcp" / "vms.csv")

    a100 = find(offers, sku="a2-highgpu-1g", zone="us-central1-a")
    assert {(o.pricing, o.price_per_hour) for o in a100} == {
        (PricingModel.ON_DEMAND, Decimal("3.673388")),  # 0.73948 host + 2.933908 GPU
        (PricingModel.SPOT, Decimal("1.469750")),
    }
    assert {(o.gpu_label, o.gpu_count, o.vcpus, o.memory_gb, o.gpu_memory_mib) for o in a100} == {
        ("A100", 1, Decimal("12.0"), Decimal("85.0"), 40960)
    }
    assert a100[0].extra["host_instance_type"] == "a2-highgpu-1g"
    assert find(offers, sku="a2-highgpu-1g", zone="europe-west4-a", pricing="on_demand")[
        0
    ].price_per_hour == (Decimal("3.747968"))
    (h100,) = find(offers, sku="a3-highgpu-8g", pricing=PricingModel.ON_DEMAND)
    assert (h100.gpu_count, h100.price_per_hour) == (8, Decimal("88.246090"))


def test_it_offers_each_gcp_machine_type_an_accelerator_fits():
    offers, _ = fetch(SAMPLES / "gcp" / "vms.csv")

    l4 = find(offers, gpu_label="L4", pricing=PricingModel.ON_DEMAND)
    assert {(o.sku, o.price_per_hour) for o in l4} == {
        ("g2-standard-4", Decimal("0.700040")),
        ("g2-standard-8", Decimal("0.840040")),
    }
    (t4,) = find(offers, gpu_label="T4", pricing=PricingModel.ON_DEMAND)
    assert (t4.sku, t4.price_per_hour, t4.vcpus) == (
        "n1-standard-8+T4x1",
        Decimal("0.729998"),
        Decimal("8.0"),
    )


def test_gcp_bundled_hosts_are_not_cpu_offers_but_plain_vms_are():
    offers, _ = fetch(SAMPLES / "gcp" / "vms.csv")

    cpu_skus = {o.sku for o in offers if not o.gpu_label}

    assert cpu_skus == {"n1-standard-8", "n2-standard-8"}


def test_it_counts_tpu_chips_not_slices():
    offers, _ = fetch(SAMPLES / "gcp" / "vms.csv")

    v6e = find(offers, sku="tpu-v6e-8", pricing=PricingModel.ON_DEMAND)[0]
    v5p = find(offers, sku="tpu-v5p-8", pricing=PricingModel.ON_DEMAND)[0]
    assert (v6e.gpu_label, v6e.gpu_count, v6e.price_per_hour) == (
        "tpu-v6e-8",
        8,
        Decimal("21.600000"),
    )
    assert v5p.gpu_count == 4  # v5p-8 counts TensorCores: 4 chips
    assert resolve(v6e.gpu_label).name == "v6e"


def test_it_reports_gcp_accelerators_it_cannot_price():
    _, errors = fetch(SAMPLES / "gcp" / "vms.csv")

    reasons = {e.where: e.reason for e in errors}
    assert reasons == {
        "gcp/vms.csv:9": "no price for host a2-highgpu-1g in asia-east1-c",
        "gcp/vms.csv:13": "no price for host a3-ultragpu-8g in us-central1-b",
        "gcp/vms.csv:16": "no GCP machine type known for XYZ100 x1",
    }


# -- an unknown cloud with every quirk, and broken files ----------------------------------


def test_it_reads_an_unknown_cloud_by_column_name():
    offers, _ = fetch(SAMPLES / "acmecloud")

    (h100,) = find(offers, sku="gpu-h100x8", pricing=PricingModel.ON_DEMAND)
    assert h100.provider == "acmecloud"
    assert (h100.gpu_label, h100.gpu_count, h100.gpu_memory_mib) == ("H100-SXM", 8, 81920)
    assert (h100.price_per_hour, h100.region, h100.zone) == (
        Decimal("24.000000"),
        "Texas, US, NA",
        "tx-1a",
    )
    assert (h100.vcpus, h100.memory_gb, h100.disk_gb) == (
        Decimal(208),
        Decimal(1800),
        Decimal(2000),
    )
    assert h100.interconnect == "sxm"
    assert h100.extra["gpu_model"] == "H100 80GB HBM3"


def test_a_spot_suffixed_row_is_a_spot_offer_of_the_plain_sku():
    offers, _ = fetch(SAMPLES / "acmecloud")

    spot = find(offers, sku="gpu-h100x8", pricing=PricingModel.SPOT)
    assert [o.price_per_hour for o in spot] == [Decimal("9.500000")]
    assert find(offers, sku="gpu-h100x8__SPOT") == []


def test_spot_price_equal_to_price_is_still_a_spot_offer():
    offers, _ = fetch(SAMPLES / "acmecloud")

    a10 = find(offers, sku="gpu-a10x1")
    assert sorted(o.pricing for o in a10) == [PricingModel.ON_DEMAND, PricingModel.SPOT]
    assert {o.price_per_hour for o in a10} == {Decimal("0.750000")}
    assert a10[0].gpu_memory_mib == 24576


def test_a_bad_row_is_reported_with_file_line_and_reason_and_the_rest_goes_on():
    offers, errors = fetch(SAMPLES / "acmecloud")

    assert {e.where: e.reason for e in errors} == {
        "acmecloud/vms.csv:4": "non-numeric Price 'abc'",
        "acmecloud/vms.csv:5": "expected 11 fields, got 12",
        "acmecloud/vms.csv:8": "no price: Price and SpotPrice are empty or 0",
        "acmecloud/vms.csv:9": "non-numeric AcceleratorCount 'two'",
    }
    assert {o.sku for o in offers} == {"gpu-h100x8", "gpu-a10x1", "cpu-4", "gpu-a40x1"}
    (a40,) = find(offers, sku="gpu-a40x1")
    assert (a40.price_per_hour, a40.region) == (Decimal("0.369800"), "")


def test_a_file_without_a_required_column_fails_as_a_whole():
    offers, errors = fetch(SAMPLES / "brokencloud" / "vms.csv")

    assert offers == []
    assert [(e.where, e.reason) for e in errors] == [
        ("source skypilot-catalog: brokencloud/vms.csv", "missing columns: Price")
    ]


def test_a_missing_path_fails_the_source():
    offers, errors = fetch(SAMPLES / "no-such-cloud")

    assert offers == []
    assert errors[0].where.startswith("source skypilot-catalog:")


# -- from the published URL ----------------------------------------------------------------


def test_it_downloads_each_cloud_and_reports_one_that_fails(provider_server):
    provider_server.expect_request("/catalogs/v8/gcp/vms.csv").respond_with_data(
        (SAMPLES / "gcp" / "vms.csv").read_bytes(), content_type="text/csv"
    )
    provider_server.expect_request("/catalogs/v8/acmecloud/vms.csv").respond_with_data(
        (SAMPLES / "acmecloud" / "vms.csv").read_bytes(), content_type="text/csv"
    )
    provider_server.expect_request("/catalogs/v8/gone/vms.csv").respond_with_data(
        "Not Found", status=404
    )
    source = SkypilotCatalogSource(
        base_url=provider_server.url_for("/catalogs/v8"),
        clouds=["gcp", "gone", "acmecloud"],
        max_retries=0,
    )

    items = list(source.fetch())

    offers = [i for i in items if isinstance(i, OfferRow)]
    http_errors = [i for i in items if isinstance(i, RowError) and i.where.startswith("http")]
    assert {o.provider for o in offers} == {"gcp", "acmecloud"}
    assert len(offers) == len(fetch(SAMPLES / "gcp")[0]) + len(fetch(SAMPLES / "acmecloud")[0])
    assert [e.where for e in http_errors] == [provider_server.url_for("/catalogs/v8/gone/vms.csv")]
    assert "HTTP 404" in http_errors[0].reason
    row_errors = {e.where for e in items if isinstance(e, RowError)} - {
        e.where for e in http_errors
    }
    assert row_errors == {
        e.where for e in fetch(SAMPLES / "gcp")[1] + fetch(SAMPLES / "acmecloud")[1]
    }


def test_a_folder_without_catalog_files_fails_the_source(tmp_path):
    offers, errors = fetch(tmp_path)

    assert offers == []
    assert [e.reason for e in errors] == ["no <cloud>/vms.csv under this folder"]


def cloud_file(folder: Path, cloud: str, text: str) -> Path:
    (folder / cloud).mkdir()
    (folder / cloud / "vms.csv").write_text(text)
    return folder / cloud


def test_a_line_the_csv_reader_rejects_is_reported_and_reading_goes_on(tmp_path):
    cloud = cloud_file(
        tmp_path,
        "hugecloud",
        "InstanceType,AcceleratorName,AcceleratorCount,Price,Region\n"
        "a,H100,1,2.0,us-east-1\n"
        f"b,H100,1,2.0,{'x' * 200_000}\n"  # over the csv module's field size limit
        "c,L4,1,0.5,us-east-1\n",
    )

    offers, errors = fetch(cloud)

    assert [o.sku for o in offers] == ["a", "c"]
    assert [e.where for e in errors] == ["hugecloud/vms.csv:3"]
    assert errors[0].reason.startswith("malformed CSV line")


def test_short_rows_blank_lines_and_columns_a_cloud_leaves_out(tmp_path):
    # a cloud file without SpotPrice, GpuInfo or AvailabilityZone columns, in its own order
    cloud_file(
        tmp_path,
        "newcloud",
        "Region,Price,InstanceType,AcceleratorCount,AcceleratorName,vCPUs,MemoryGiB\n"
        "us-east,2.50,a100x1,1,A100,12,85\n"
        "\n"
        "us-east,2.50,a100x2\n"
        "eu-west,2.75,a100x1,1,A100,12,85\n",
    )
    # when
    offers, errors = fetch(tmp_path)
    # then
    assert [(e.where, e.reason) for e in errors] == [
        ("newcloud/vms.csv:4", "expected 7 fields, got 3")
    ]
    assert [(o.region, o.price_per_hour, o.pricing, o.zone) for o in offers] == [
        ("us-east", Decimal("2.500000"), PricingModel.ON_DEMAND, ""),
        ("eu-west", Decimal("2.750000"), PricingModel.ON_DEMAND, ""),
    ]
    assert (offers[0].vcpus, offers[0].memory_gb, offers[0].disk_gb) == (12, 85, None)
    assert offers[0].extra == {} and offers[0].extra is not offers[1].extra
