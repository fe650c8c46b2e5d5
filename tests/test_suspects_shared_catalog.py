"""Price sanity on the real shared SkyPilot catalog, through the real source and sync:
the sync runs the price check on the GPU classes it touched."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from brokers.services.sync import refresh_source
from marketplace.models import Offer

pytestmark = pytest.mark.django_db

SHARED_CATALOG = Path(__file__).resolve().parents[1] / ".." / "shared/data/skypilot-catalog-v8"


@pytest.fixture
def shared_catalog():
    if not SHARED_CATALOG.is_dir():
        pytest.skip("shared SkyPilot catalog not present")
    sync = refresh_source(source_name="skypilot-catalog", path=str(SHARED_CATALOG))
    assert (sync.status, sync.created, sync.unknown_labels) == ("succeeded", 1031, {})
    return sync


def h100_offers():
    return Offer.objects.filter(gpu__name="H100", gpu__memory_gb=80).select_related("provider")


def test_the_mithril_h100_rows_are_suspect_and_no_other_h100_row_is(shared_catalog):
    # when: the sync ran the price check on the classes it touched
    suspect = {(o.provider.slug, o.sku, o.pricing) for o in h100_offers() if o.suspect}
    # then
    assert suspect == {
        ("mithril", "h100-80gb.sxm.1x", "on_demand"),
        ("mithril", "h100-80gb.sxm.1x", "spot"),
        ("mithril", "h100-80gb.sxm.8x", "on_demand"),
        ("mithril", "h100-80gb.sxm.8x", "spot"),
    }
    assert h100_offers().filter(suspect=False).count() == h100_offers().count() - 4
    assert shared_catalog.suspect_flagged == Offer.objects.filter(suspect=True).count()


def test_the_reasons_name_the_floor_and_the_gpu_models_it_spans(shared_catalog):
    reasons = {
        (o.sku, o.pricing): o.suspect_reason for o in Offer.objects.filter(provider__slug="mithril")
    }
    floor = (
        "auction floor, not a price: one $1.00/GPU-h for every GPU model listed (H100 80GB, "
        "H200 141GB), spot = on-demand on every row"
    )
    assert reasons == {
        (sku, pricing): floor
        for sku in ("ccs-h200.sxm.1x", "ccs-h200.sxm.8x", "h100-80gb.sxm.1x", "h100-80gb.sxm.8x")
        for pricing in ("on_demand", "spot")
    }


def test_hyperbolic_at_half_the_median_is_cheap_but_not_suspect(shared_catalog):
    hyperbolic = h100_offers().get(provider__slug="hyperbolic", sku="1x-H100-75-722")
    assert (hyperbolic.price_per_gpu_hour, hyperbolic.suspect) == (Decimal("1.290000"), False)
