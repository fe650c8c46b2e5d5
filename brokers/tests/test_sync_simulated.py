from __future__ import annotations

import json

import pytest

from brokers.models import PriceSync
from brokers.services.sync import refresh_source
from marketplace.models import Offer, OfferPrice, OfferStatus

pytestmark = pytest.mark.django_db


def test_it_loads_the_simulated_catalog_and_records_the_sync():
    sync = refresh_source(source_name="simulated")
    assert (sync.status, sync.rows_read, sync.created, sync.updated, sync.unchanged) == (
        "succeeded",
        15,
        15,
        0,
        0,
    )
    offer = Offer.objects.get(sku="sim.h100x8", pricing="on_demand")
    assert (
        offer.gpu.name,
        offer.gpu.memory_gb,
        offer.gpu_count,
        str(offer.price_per_gpu_hour),
    ) == ("H100", 80, 8, "2.990000")
    assert OfferPrice.objects.count() == 0  # prices that never changed: the offers' own


def test_it_changes_nothing_on_an_unchanged_second_run():
    refresh_source(source_name="simulated")
    sync = refresh_source(source_name="simulated")
    assert (sync.created, sync.updated, sync.unchanged, sync.withdrawn) == (0, 0, 15, 0)
    assert OfferPrice.objects.count() == 0


def test_it_appends_history_only_on_price_change_and_withdraws_missing_offers(tmp_path):
    # given a loaded catalog
    path = tmp_path / "catalog.json"
    items = [
        {"sku": "x1", "gpu": "H100", "gpu_count": 1, "price_per_hour": "2.00", "available": 2},
        {"sku": "x2", "gpu": "L4", "gpu_count": 1, "price_per_hour": "0.50", "available": 2},
    ]
    path.write_text(json.dumps(items))
    refresh_source(source_name="simulated", path=str(path))
    # when one price changes and the other offer disappears from a complete sync
    path.write_text(json.dumps([items[0] | {"price_per_hour": "1.75"}]))
    sync = refresh_source(source_name="simulated", path=str(path))
    # then
    assert (sync.updated, sync.withdrawn) == (1, 1)
    x1 = Offer.objects.get(sku="x1")
    assert [
        str(p)
        for p in x1.price_history.order_by("observed_at").values_list("price_per_hour", flat=True)
    ] == ["2.000000", "1.750000"]
    assert Offer.objects.get(sku="x2").status == OfferStatus.WITHDRAWN


def test_it_reports_bad_rows_and_unknown_labels_without_losing_the_rest(tmp_path):
    path = tmp_path / "catalog.json"
    path.write_text(
        json.dumps(
            [
                {"sku": "ok", "gpu": "A100-80GB", "gpu_count": 8, "price_per_hour": "14.0"},
                {"sku": "bad", "gpu": "H100", "gpu_count": 1, "price_per_hour": "cheap"},
                {
                    "sku": "mystery",
                    "gpu": "Quantum Flux 9000",
                    "gpu_count": 1,
                    "price_per_hour": "1",
                },
            ]
        )
    )
    sync = refresh_source(source_name="simulated", path=str(path))
    assert sync.status == "partial"
    assert sync.unknown_labels == {"Quantum Flux 9000": 1}
    assert [e["where"] for e in sync.errors] == ["catalog.json[2]"]
    assert sync.errors[0]["reason"].startswith("bad item")
    assert Offer.objects.get(sku="ok").gpu.memory_gb == 80
    assert PriceSync.objects.count() == 1
