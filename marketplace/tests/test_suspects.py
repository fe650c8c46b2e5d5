"""Price sanity: auction-floor lists and offers far below the low end of their GPU class are
flagged suspect, with the reason."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from marketplace.models import GpuModel, Offer, OfferStatus, Provider
from marketplace.services.price_sanity import SuspectCounts, offers_flag_suspects

pytestmark = pytest.mark.django_db


# --- a small synthetic catalog -------------------------------------------------------------


@pytest.fixture
def h100():
    return GpuModel.objects.get(name="H100", memory_gb=80)


@pytest.fixture
def l4():
    return GpuModel.objects.get(name="L4")


def add(provider: str, per_gpu: str, gpu, *, sku="", region="r1", pricing="on_demand", **kw):
    owner, _ = Provider.objects.get_or_create(slug=provider, defaults={"name": provider})
    price = Decimal(per_gpu)
    return Offer.objects.create(
        provider=owner,
        sku=sku or f"{gpu.name.lower()}x1",
        gpu=gpu,
        gpu_count=1,
        region=region,
        pricing=pricing,
        price_per_hour=price,
        price_per_gpu_hour=price,
        observed_at=timezone.now(),
        **kw,
    )


def flags() -> dict[tuple[str, str, str, str], str]:
    return {
        (o.provider.slug, o.sku, o.region, o.pricing): o.suspect_reason
        for o in Offer.objects.filter(suspect=True).select_related("provider")
    }


def test_nothing_is_flagged_with_fewer_than_three_providers(h100):
    # given two providers, one at a tenth of the other
    add("a", "3.00", h100)
    add("b", "0.30", h100)
    # when
    counts = offers_flag_suspects(gpu_ids=[h100.pk])
    # then
    assert counts == SuspectCounts()
    assert flags() == {}


def test_an_offer_below_the_factor_times_the_low_quartile_of_provider_medians_is_suspect(h100):
    # given provider medians 2.00, 2.00, 2.50, 3.00: their 25th percentile is 2.00 (d's three
    # rows at 2.00 outvote its two cheap ones), and 0.1 x 2.00 = 0.20
    add("a", "3.00", h100)
    add("b", "2.50", h100)
    add("c", "2.00", h100)
    for region in ("r1", "r2", "r3"):
        add("d", "2.00", h100, region=region)
    add("d", "0.18", h100, sku="cheap")
    add("d", "0.20", h100, sku="at-the-line")
    # when
    counts = offers_flag_suspects(gpu_ids=[h100.pk])
    # then
    assert counts == SuspectCounts(flagged=1)
    assert flags() == {
        ("d", "cheap", "r1", "on_demand"): (
            "$0.180000/GPU-h is 9% of the low end of the H100 80GB on-demand market: $2.00, "
            "the 25th percentile of 4 providers' medians"
        )
    }


def test_a_provider_with_many_cheap_rows_gets_one_vote(h100):
    # given 50 regional rows of one cheap provider and three normal providers
    for n in range(50):
        add("cheap", "0.10", h100, region=f"r{n}")
    add("a", "3.00", h100)
    add("b", "2.80", h100)
    add("c", "2.60", h100)
    # when: the votes are 0.10, 2.60, 2.80, 3.00 -> 25th percentile 0.10 + 0.75 x 2.50 =
    # 1.975, not the 0.10 that fifty votes would make it
    offers_flag_suspects(gpu_ids=[h100.pk])
    # then
    assert Offer.objects.filter(suspect=True, provider__slug="cheap").count() == 50
    assert Offer.objects.filter(suspect=True).count() == 50
    assert (
        Offer.objects.filter(provider__slug="cheap")
        .first()
        .suspect_reason.endswith("$1.98, the 25th percentile of 4 providers' medians")
    )


def test_classes_are_per_gpu_and_per_pricing_model(h100, l4):
    for provider, price in (("a", "3.00"), ("b", "2.80"), ("c", "2.60")):
        add(provider, price, h100)
        add(provider, price, l4)  # L4 at H100 prices: its own class, nothing odd in it
    add("d", "0.15", l4, sku="l4")  # cheap for this L4 class: 0.15 < 0.1 x 1.9875
    for provider, price in (("a", "1.00"), ("b", "0.90"), ("c", "0.80")):
        add(provider, price, h100, pricing="spot")  # spot is judged against spot

    offers_flag_suspects()

    assert list(flags()) == [("d", "l4", "r1", "on_demand")]  # not the spot class


def test_bid_floors_are_suspect_and_do_not_vote(h100):
    for provider, price in (("a", "3.00"), ("b", "2.80"), ("c", "2.60")):
        add(provider, price, h100, pricing="spot")
    add("vast", "2.50", h100, pricing="spot", sku="floor", extra={"bid_floor": True})

    offers_flag_suspects(gpu_ids=[h100.pk])

    assert flags() == {("vast", "floor", "r1", "spot"): "bid floor, not a price"}


def test_a_spot_row_at_the_on_demand_price_shares_its_verdict(h100):
    # given a provider whose spot rows repeat its on-demand price (mithril's SpotPrice = Price)
    for provider, od, spot in (("a", "3.00", "1.20"), ("b", "2.80", "1.10"), ("c", "2.60", "1.00")):
        add(provider, od, h100)
        add(provider, spot, h100, pricing="spot")
    add("m", "0.20", h100, sku="m8")
    add("m", "0.20", h100, sku="m8", pricing="spot")  # would be normal among the spot prices
    add("n", "2.90", h100, sku="n8")
    add("n", "2.90", h100, sku="n8", pricing="spot")  # a normal on-demand figure: not suspect
    # when
    offers_flag_suspects(gpu_ids=[h100.pk])
    # then
    reasons = flags()
    assert set(reasons) == {("m", "m8", "r1", "on_demand"), ("m", "m8", "r1", "spot")}
    assert reasons[("m", "m8", "r1", "spot")] == (
        "spot price equals a suspect on-demand price ($0.200000/GPU-h is 8% of the low end "
        "of the H100 80GB on-demand market: $2.60, the 25th percentile of 5 providers' medians)"
    )


def add_with_spot_copy(provider: str, per_gpu: str, gpu, *, sku: str):
    add(provider, per_gpu, gpu, sku=sku)
    add(provider, per_gpu, gpu, sku=sku, pricing="spot")


FLOOR_REASON = (
    "auction floor, not a price: one $2.00/GPU-h for every GPU model listed (H100 80GB, "
    "H200 141GB), spot = on-demand on every row"
)


def test_a_list_of_one_price_across_gpu_models_with_spot_equal_to_on_demand_is_a_floor(h100):
    # given mithril's pattern at a price that is no outlier in its class: H100 and H200 at
    # the same $2.00, each row's spot price equal to its on-demand price
    h200 = GpuModel.objects.get(name="H200")
    for provider, price in (("a", "3.00"), ("b", "2.80"), ("c", "2.60")):
        add(provider, price, h100)
    add_with_spot_copy("floor", "2.00", h100, sku="h100x8")
    add_with_spot_copy("floor", "2.00", h200, sku="h200x8")
    # when: only the H100 class is judged (a sync that touched it), the whole list is read
    counts = offers_flag_suspects(gpu_ids=[h100.pk])
    # then
    assert counts == SuspectCounts(flagged=2)
    assert flags() == {
        ("floor", "h100x8", "r1", "on_demand"): FLOOR_REASON,
        ("floor", "h100x8", "r1", "spot"): FLOOR_REASON,
    }


def test_a_floor_list_does_not_vote(h100):
    # given two floor lists, and an offer below a tenth of the honest providers' low end
    # (1.9875) but not below a tenth of the low end with the floors' votes (1.00)
    h200 = GpuModel.objects.get(name="H200")
    for provider, price in (("a", "3.00"), ("b", "2.80"), ("c", "2.60")):
        add(provider, price, h100)
    for provider in ("f1", "f2"):
        add_with_spot_copy(provider, "1.00", h100, sku="h100x8")
        add_with_spot_copy(provider, "1.00", h200, sku="h200x8")
    add("d", "0.15", h100, sku="cheap")
    # when
    offers_flag_suspects(gpu_ids=[h100.pk])
    # then: the votes are 0.15, 2.60, 2.80, 3.00 -> low end 1.99, not 1.00 (f1 and f2)
    assert flags()[("d", "cheap", "r1", "on_demand")] == (
        "$0.150000/GPU-h is 8% of the low end of the H100 80GB on-demand market: $1.99, the "
        "25th percentile of 4 providers' medians"
    )


@pytest.mark.parametrize(
    "breaks_the_pattern",
    ["one GPU model", "no spot copy", "two prices"],
)
def test_a_list_that_breaks_the_floor_pattern_is_judged_by_its_prices(h100, breaks_the_pattern):
    h200 = GpuModel.objects.get(name="H200")
    for provider, price in (("a", "3.00"), ("b", "2.80"), ("c", "2.60")):
        add(provider, price, h100)
    add_with_spot_copy("p", "2.00", h100, sku="h100x8")
    if breaks_the_pattern == "no spot copy":
        add("p", "2.00", h200, sku="h200x8")
    elif breaks_the_pattern == "two prices":
        add_with_spot_copy("p", "2.10", h200, sku="h200x8")

    offers_flag_suspects()

    assert flags() == {}


def test_an_offer_that_is_no_longer_an_outlier_is_unflagged(h100):
    for provider, price in (("a", "3.00"), ("b", "2.80"), ("c", "2.60")):
        add(provider, price, h100)
    cheap = add("d", "0.10", h100)
    offers_flag_suspects(gpu_ids=[h100.pk])
    assert Offer.objects.get(pk=cheap.pk).suspect is True

    Offer.objects.filter(pk=cheap.pk).update(price_per_hour="2.40", price_per_gpu_hour="2.40")
    counts = offers_flag_suspects(gpu_ids=[h100.pk])

    cheap.refresh_from_db()
    assert counts == SuspectCounts(cleared=1)
    assert (cheap.suspect, cheap.suspect_reason) == (False, "")


def test_only_active_offers_vote(h100):
    add("a", "3.00", h100)
    add("c", "9.00", h100, status=OfferStatus.WITHDRAWN)
    add("d", "9.00", h100, status=OfferStatus.STALE)
    cheap = add("e", "0.50", h100)

    offers_flag_suspects(gpu_ids=[h100.pk])

    assert Offer.objects.get(pk=cheap.pk).suspect is False  # two voters: no reference


def test_the_factor_is_a_setting(h100, settings):
    for provider, price in (("a", "3.00"), ("b", "2.80"), ("c", "2.60")):
        add(provider, price, h100)
    add("d", "1.50", h100)  # 65% of the low end: 1.50 + 0.75 x (2.60 - 1.50) = 2.325
    settings.SUSPECT_PRICE_FACTOR = Decimal("0.7")

    offers_flag_suspects(gpu_ids=[h100.pk])

    assert list(flags()) == [("d", "h100x1", "r1", "on_demand")]


def test_only_the_classes_asked_for_are_judged(h100, l4):
    for provider, price in (("a", "3.00"), ("b", "2.80"), ("c", "2.60")):
        add(provider, price, h100)
        add(provider, price, l4)
    add("d", "0.10", h100, sku="h")
    add("d", "0.10", l4, sku="l")

    offers_flag_suspects(gpu_ids=[l4.pk])

    assert list(flags()) == [("d", "l", "r1", "on_demand")]
    assert offers_flag_suspects(gpu_ids=[]) == SuspectCounts()


def test_the_check_is_a_few_statements_whatever_the_catalog_size(h100):
    for n in range(300):
        add(f"p{n % 5}", str(2 + n % 7), h100, sku=f"s{n}")

    with CaptureQueriesContext(connection) as queries:
        offers_flag_suspects()

    assert len(queries) <= 6  # savepoint, 2 SET LOCAL, the statement, release


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_classes_are_judged_on_two_connections_at_once(
    h100, l4, monkeypatch
):
    # given two classes with an outlier each, and more offers of H100 than of L4
    for provider, price in (("a", "3.00"), ("b", "2.80"), ("c", "2.60"), ("e", "2.90")):
        add(provider, price, h100)
        add(provider, price, l4)
    add("e", "2.95", h100, sku="more")
    add("d", "0.10", h100, sku="h")
    add("d", "0.10", l4, sku="l")
    a100 = GpuModel.objects.get(name="A100", memory_gb=80)
    add("a", "1.50", a100)
    from marketplace.services import price_sanity

    judged = []
    judge = price_sanity._judge
    monkeypatch.setattr(
        price_sanity, "_judge", lambda ids, params: judged.append(ids) or judge(ids, params)
    )
    # when
    counts = offers_flag_suspects()
    # then: H100 alone (7 offers) on one connection, L4 and A100 (6 + 1) on the other
    assert sorted(judged) == sorted([[h100.pk], sorted([l4.pk, a100.pk])])
    assert counts == SuspectCounts(flagged=2)
    assert sorted(flags()) == [("d", "h", "r1", "on_demand"), ("d", "l", "r1", "on_demand")]
