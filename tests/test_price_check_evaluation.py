"""The price check against the labelled snapshot and its growth scenarios (issue 15): every
row that is not a price flagged (recall 1), no genuine row flagged (precision 1), in every
scenario. `python -m bench price-check` prints the table, before and after."""

from __future__ import annotations

import pytest

from brokers.services.sync import refresh_source
from marketplace.models import Offer
from marketplace.services.price_sanity import offers_flag_suspects
from tests.price_evaluation import (
    REASONS,
    SCENARIOS,
    SHARED_CATALOG,
    active_gpu_offers,
    offer_key,
    score,
    snapshot_labels,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def snapshot():
    if not SHARED_CATALOG.is_dir():
        pytest.skip("shared SkyPilot catalog not present")
    sync = refresh_source(source_name="skypilot-catalog", path=str(SHARED_CATALOG))
    assert sync.status == "succeeded"
    return snapshot_labels()


def flagged_keys() -> set:
    return {offer_key(o) for o in active_gpu_offers().filter(suspect=True)}


def test_every_gpu_row_of_the_snapshot_has_a_label_with_a_known_reason(snapshot):
    assert {offer_key(o) for o in active_gpu_offers()} == set(snapshot)
    assert {label.reason for label in snapshot.values()} <= set(REASONS)
    not_prices = sorted(key[:2] + key[4:] for key, label in snapshot.items() if not label.is_price)
    assert not_prices == [
        ("mithril", sku, pricing)
        for sku in ("ccs-h200.sxm.1x", "ccs-h200.sxm.8x", "h100-80gb.sxm.1x", "h100-80gb.sxm.8x")
        for pricing in ("on_demand", "spot")
    ]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_the_check_flags_every_row_that_is_not_a_price_and_no_other(snapshot, scenario):
    # given
    labels = scenario.apply(snapshot)
    # when
    offers_flag_suspects()
    # then
    result = score(labels, flagged_keys())
    assert (result.genuine_flagged, result.missed) == ((), ())
    assert (result.precision, result.recall) == (1.0, 1.0)


def test_the_mithril_rows_stay_suspect_when_the_snapshot_is_doubled(snapshot):
    doubled = next(s for s in SCENARIOS if s.name == "doubled")
    doubled.apply(snapshot)

    offers_flag_suspects()

    mithril = Offer.objects.filter(provider__slug__in=["mithril", "mithril-twin"])
    assert mithril.count() == 16
    assert set(mithril.values_list("suspect", flat=True)) == {True}


# The 9 real prices of issue 15 that the old rule flagged: marketplace asks, cheap by design.
REAL_CHEAP_PRICES = {
    ("cudo", "intel-broadwell-v100_1x2v4gb", "us-newyork-1"): "0.210000",
    ("lium", "L40S_2x", "US"): "0.380000",
    ("lium", "L40S_4x", "US"): "0.380000",
    ("vast", "1x-A100_PCIE-32-65536", "Oklahoma, US, NA"): "0.870000",
    ("vast", "1x-A100_SXM4-32-65536", "Bavaria, DE, EU"): "0.760000",
    ("vast", "1x-A100_SXM4-32-65536", "Georgia, US, NA"): "0.760000",
    ("vast", "2x-A100_SXM4-32-65536", "Slovenia, SI, EU"): "0.745000",
    ("vast", "4x-A100_SXM4-32-65536", "Oregon, US, NA"): "0.772500",
    ("vast", "8x-Tesla_V100-32-65536", "Sweden, SE, EU"): "0.106250",
}


def test_the_nine_real_cheap_prices_and_every_lambda_and_hyperbolic_row_are_not_suspect(
    snapshot,
):
    offers_flag_suspects()

    nine = {
        (o.provider.slug, o.sku, o.region): (str(o.price_per_gpu_hour), o.suspect)
        for o in active_gpu_offers().filter(pricing="on_demand")
        if (o.provider.slug, o.sku, o.region) in REAL_CHEAP_PRICES
    }
    assert nine == {key: (price, False) for key, price in REAL_CHEAP_PRICES.items()}
    others = Offer.objects.filter(provider__slug__in=["lambda", "hyperbolic"])
    assert others.count() == 377
    assert not others.filter(suspect=True).exists()
