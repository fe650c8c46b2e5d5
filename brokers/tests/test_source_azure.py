"""azure: Azure Retail Prices API pages, from files and from a local server."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path

from werkzeug import Request, Response

from brokers.sources.azure import DEFAULT_FILTER, AzureRetailPricesSource, gpu_of_sku
from brokers.sources.base import OfferRow, PricingModel, RowError
from brokers.tests.provider_server import provider_server_fixture  # noqa: F401
from marketplace.gpu_names import resolve

SAMPLES = Path(__file__).resolve().parent / "samples" / "azure"
PUBLIC_BASE = "https://prices.azure.com:443"


def split(items) -> tuple[list[OfferRow], list[RowError]]:
    items = list(items)
    return [i for i in items if isinstance(i, OfferRow)], [
        i for i in items if isinstance(i, RowError)
    ]


def serve_pages(server, *, page2_edit=None) -> None:
    base = server.url_for("").rstrip("/")
    page1 = json.loads((SAMPLES / "page1.json").read_text())
    page1["NextPageLink"] = page1["NextPageLink"].replace(PUBLIC_BASE, base)
    page2 = json.loads((SAMPLES / "page2.json").read_text())
    if page2_edit:
        page2_edit(page2)
    server.expect_request(
        "/api/retail/prices", query_string={"$filter": DEFAULT_FILTER}
    ).respond_with_json(page1)
    server.expect_request(
        "/api/retail/prices", query_string={"$filter": DEFAULT_FILTER, "$skip": "1000"}
    ).respond_with_json(page2)


def source_for(server, **options) -> AzureRetailPricesSource:
    return AzureRetailPricesSource(
        base_url=server.url_for("/api/retail/prices"), max_retries=0, **options
    )


def test_it_follows_next_page_links_and_prices_gpu_vms(provider_server):
    serve_pages(provider_server)

    offers, errors = split(source_for(provider_server).fetch())

    assert sorted((o.sku, o.region, o.pricing, o.price_per_hour) for o in offers) == [
        ("Standard_NC24ads_A100_v4", "eastus", PricingModel.ON_DEMAND, Decimal("3.673000")),
        ("Standard_NC24ads_A100_v4", "eastus", PricingModel.SPOT, Decimal("0.734600")),
        ("Standard_NC40ads_H100_v5", "westeurope", PricingModel.ON_DEMAND, Decimal("6.980000")),
        ("Standard_NC6s_v3", "westeurope", PricingModel.ON_DEMAND, Decimal("3.060000")),
        ("Standard_ND96asr_v4", "westus2", PricingModel.ON_DEMAND, Decimal("27.197000")),
        # the later effectiveStartDate wins over the 100.0 meter of 2023
        ("Standard_ND96isr_H100_v5", "eastus", PricingModel.ON_DEMAND, Decimal("98.320000")),
    ]
    assert [(e.where, e.reason) for e in errors] == [
        (
            "Standard_NX12ads_Z9_v9",
            "N-series size not in the Azure GPU table",
        )  # once, not per region
    ]


def test_it_maps_sizes_to_gpus_the_pipeline_resolves():
    offers, _ = split(AzureRetailPricesSource().fetch(path=str(SAMPLES)))

    resolved = {
        o.sku: (resolve(o.gpu_label, o.gpu_memory_mib).key, o.gpu_count, o.vcpus) for o in offers
    }
    assert resolved == {
        "Standard_NC24ads_A100_v4": (("nvidia", "A100", 80), 1, Decimal(24)),
        "Standard_ND96asr_v4": (("nvidia", "A100", 40), 8, Decimal(96)),
        "Standard_ND96isr_H100_v5": (("nvidia", "H100", 80), 8, Decimal(96)),
        "Standard_NC40ads_H100_v5": (("nvidia", "H100NVL", 94), 1, Decimal(40)),
        "Standard_NC6s_v3": (("nvidia", "V100", 16), 1, Decimal(6)),
    }


def test_it_drops_windows_low_priority_cpu_and_fractional_meters():
    offers, _ = split(AzureRetailPricesSource().fetch(path=str(SAMPLES / "page1.json")))

    assert {(o.sku, o.pricing) for o in offers} == {
        ("Standard_NC24ads_A100_v4", PricingModel.ON_DEMAND),
        ("Standard_NC24ads_A100_v4", PricingModel.SPOT),
    }
    on_demand = next(o for o in offers if o.pricing == PricingModel.ON_DEMAND)
    assert on_demand.price_per_hour == Decimal("3.673000")  # not the Windows 4.521
    assert on_demand.extra["skuName"] == "NC24ads A100 v4"
    assert on_demand.currency == "USD"


def test_the_series_table():
    assert gpu_of_sku("Standard_NC96ads_A100_v4") == ("A100", 4, 80, 96)
    assert gpu_of_sku("Standard_ND96amsr_A100_v4") == ("A100", 8, 80, 96)
    assert gpu_of_sku("Standard_ND40rs_v2") == ("V100", 8, 32, 40)
    assert gpu_of_sku("Standard_NC64as_T4_v3") == ("T4", 4, 16, 64)
    assert gpu_of_sku("Standard_NC24rs_v3") == ("V100", 4, 16, 24)
    assert gpu_of_sku("Standard_ND96isr_MI300X_v5") == ("MI300X", 8, 192, 96)
    assert gpu_of_sku("Standard_NV36ads_A10_v5") == ("A10", 1, 24, 36)
    assert gpu_of_sku("Standard_NV12ads_A10_v5") == "fractional"
    assert gpu_of_sku("Standard_D4s_v5") is None


def test_a_server_error_is_reported_not_raised(provider_server):
    provider_server.expect_request("/api/retail/prices").respond_with_data(
        "upstream failure", status=500
    )

    offers, errors = split(source_for(provider_server).fetch())

    assert offers == []
    assert errors[0].where == provider_server.url_for("/api/retail/prices")
    assert "HTTP 500" in errors[0].reason


def test_a_failure_on_a_later_page_keeps_the_rows_already_read_and_reports_it(provider_server):
    base = provider_server.url_for("").rstrip("/")
    page1 = json.loads((SAMPLES / "page1.json").read_text())
    page1["NextPageLink"] = page1["NextPageLink"].replace(PUBLIC_BASE, base)
    provider_server.expect_request(
        "/api/retail/prices", query_string={"$filter": DEFAULT_FILTER}
    ).respond_with_json(page1)
    provider_server.expect_request("/api/retail/prices").respond_with_data("", status=503)

    inputs = source_for(provider_server).inputs()  # the pages are kept while it is open
    only = next(inputs)
    offers, errors = split(only.read())

    assert only.fingerprint == ""  # a run that saw part of the pages is never skipped

    assert len(offers) == 2
    assert [e.where for e in errors] == [provider_server.url_for("/api/retail/prices")]
    assert "HTTP 503" in errors[0].reason


def test_a_timeout_is_reported_not_raised(provider_server):
    def slow(request: Request) -> Response:
        time.sleep(0.3)
        return Response("{}", content_type="application/json")

    provider_server.expect_request("/api/retail/prices").respond_with_handler(slow)

    offers, errors = split(source_for(provider_server, timeout=(1, 0.1)).fetch())

    assert offers == []
    assert "timeout" in errors[0].reason


def test_a_refused_request_is_reported_not_raised(provider_server):
    provider_server.expect_request("/api/retail/prices").respond_with_json(
        {"error": "unauthorized"}, status=401
    )

    offers, errors = split(source_for(provider_server).fetch())

    assert offers == []
    assert "HTTP 401" in errors[0].reason


def fingerprint_of(source: AzureRetailPricesSource) -> str:
    (only,) = list(source.inputs())
    return only.fingerprint


def test_the_api_pages_are_hashed_together_and_a_changed_price_changes_the_hash(provider_server):
    serve_pages(provider_server)
    first = fingerprint_of(source_for(provider_server))
    provider_server.clear()
    serve_pages(provider_server)
    again = fingerprint_of(source_for(provider_server))
    # when a price on the second page changes
    provider_server.clear()
    serve_pages(provider_server, page2_edit=lambda page: page["Items"][0].update(retailPrice=9.5))
    changed = fingerprint_of(source_for(provider_server))
    # then
    assert first.startswith("sha256:") and first == again
    assert changed not in ("", first)
