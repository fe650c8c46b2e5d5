"""offer_upsert_batch: the bulk upsert every price sync and the provider API go through."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from marketplace.models import GpuModel, Offer, OfferPrice, OfferStatus, Provider
from marketplace.selectors.offers import offer_price_history
from marketplace.services import offer_writer
from marketplace.services.offer_inputs import OfferInput, offer_input_problem
from marketplace.services.offer_lifecycle import offers_mark_stale, offers_withdraw_unseen
from marketplace.services.offer_writer import UpsertCounts, offer_upsert_batch

pytestmark = pytest.mark.django_db

T0 = timezone.now().replace(microsecond=0)
T1 = T0 + timedelta(hours=1)
T2 = T1 + timedelta(hours=1)


@pytest.fixture
def provider():
    return Provider.objects.create(name="Acme", slug="acme")


@pytest.fixture
def h100():
    return GpuModel.objects.get(name="H100", memory_gb=80)


def offer(provider, gpu, sku="h100x8", price="23.920000", **fields) -> OfferInput:
    values = {
        "provider_id": provider.pk,
        "sku": sku,
        "gpu_id": gpu.pk,
        "gpu_count": 8,
        "price_per_hour": Decimal(price),
        "gpu_memory_gb": Decimal(80),
        "vcpus": Decimal(208),
        "memory_gb": Decimal(1800),
        "region": "us-east-1",
        "country": "US",
        "continent": "NA",
        "available": 2,
    }
    return OfferInput(**(values | fields))


def history(sku: str) -> list[str]:
    """The offer's prices, oldest first, as the price history selector reads them."""
    return [str(p.price_per_hour) for p in offer_price_history(offer=Offer.objects.get(sku=sku))]


def stored_points(sku: str) -> list[tuple[str, object]]:
    prices = OfferPrice.objects.filter(offer__sku=sku).order_by("observed_at", "id")
    return [(str(price), at) for price, at in prices.values_list("price_per_hour", "observed_at")]


def test_it_creates_offers_with_per_gpu_prices_and_a_price_history_of_one_price(provider, h100):
    # when
    counts = offer_upsert_batch(
        batch=[
            offer(provider, h100),
            offer(provider, h100, sku="h100x1", price="2.99", gpu_count=1),
        ],
        observed_at=T0,
    )
    # then
    assert counts == UpsertCounts(created=2, updated=0, unchanged=0)
    stored = Offer.objects.get(sku="h100x8")
    assert (str(stored.price_per_hour), str(stored.price_per_gpu_hour)) == ("23.920000", "2.990000")
    assert (stored.status, stored.observed_at, stored.country, stored.suspect) == (
        "active",
        T0,
        "US",
        False,
    )
    assert history("h100x8") == ["23.920000"]
    assert history("h100x1") == ["2.990000"]
    assert OfferPrice.objects.count() == 0  # a price that never changed is the offer's own


def test_an_unchanged_offer_only_gets_a_fresh_observed_at(provider, h100):
    # given
    offer_upsert_batch(batch=[offer(provider, h100)], observed_at=T0)
    before = Offer.objects.get()
    # when
    counts = offer_upsert_batch(batch=[offer(provider, h100)], observed_at=T1)
    # then
    after = Offer.objects.get()
    assert counts == UpsertCounts(unchanged=1)
    assert after.observed_at == T1
    assert after.updated_at == before.updated_at  # nothing about the offer changed
    assert history("h100x8") == ["23.920000"]


def test_a_price_change_updates_the_offer_and_appends_one_history_point(provider, h100):
    offer_upsert_batch(batch=[offer(provider, h100)], observed_at=T0)

    counts = offer_upsert_batch(batch=[offer(provider, h100, price="21.50")], observed_at=T1)

    assert counts == UpsertCounts(updated=1)
    stored = Offer.objects.get()
    assert (str(stored.price_per_hour), str(stored.price_per_gpu_hour)) == ("21.500000", "2.687500")
    assert history("h100x8") == ["23.920000", "21.500000"]
    assert OfferPrice.objects.order_by("-id").first().observed_at == T1


def test_a_change_other_than_the_price_updates_without_a_history_point(provider, h100):
    offer_upsert_batch(batch=[offer(provider, h100)], observed_at=T0)

    counts = offer_upsert_batch(
        batch=[offer(provider, h100, available=0, extra={"note": "sold out"})], observed_at=T1
    )

    assert counts == UpsertCounts(updated=1)
    stored = Offer.objects.get()
    assert (stored.available, stored.extra, stored.observed_at) == (0, {"note": "sold out"}, T1)
    assert history("h100x8") == ["23.920000"]


@pytest.mark.parametrize("status", [OfferStatus.STALE, OfferStatus.WITHDRAWN])
def test_a_stale_or_withdrawn_offer_seen_again_is_active_again(provider, h100, status):
    offer_upsert_batch(batch=[offer(provider, h100)], observed_at=T0)
    Offer.objects.update(status=status)

    counts = offer_upsert_batch(batch=[offer(provider, h100)], observed_at=T1)

    assert counts == UpsertCounts(updated=1)
    assert Offer.objects.get().status == OfferStatus.ACTIVE
    assert history("h100x8") == ["23.920000"]  # same price: no new point


def test_values_are_compared_as_stored_so_rounding_is_not_a_change(provider, h100):
    # given specs with more places than the columns keep (numeric(7, 1), 6-place rates)
    fuzzy = offer(provider, h100, vcpus=Decimal("207.96"), price="23.9200004")
    offer_upsert_batch(batch=[fuzzy], observed_at=T0)
    # when the same values come again
    counts = offer_upsert_batch(batch=[fuzzy], observed_at=T1)
    # then
    assert counts == UpsertCounts(unchanged=1)
    assert str(Offer.objects.get().vcpus) == "208.0"


def test_the_last_listing_of_a_key_in_a_batch_wins(provider, h100):
    counts = offer_upsert_batch(
        batch=[offer(provider, h100, price="20"), offer(provider, h100, price="22")],
        observed_at=T0,
    )

    assert counts == UpsertCounts(created=1)
    assert history("h100x8") == ["22.000000"]


def test_offers_are_keyed_by_provider_sku_region_zone_and_pricing(provider, h100):
    batch = [
        offer(provider, h100),
        offer(provider, h100, region="eu-west-1"),
        offer(provider, h100, zone="us-east-1a"),
        offer(provider, h100, pricing="spot", price="11.20"),
        offer(Provider.objects.create(name="Other", slug="other"), h100),
    ]
    assert offer_upsert_batch(batch=batch, observed_at=T0) == UpsertCounts(created=5)
    assert offer_upsert_batch(batch=batch, observed_at=T1) == UpsertCounts(unchanged=5)


def test_new_offers_get_ids_in_price_order_then_batch_order(provider, h100):
    # a batch is written in price-per-GPU-hour order (neighbouring index entries)
    skus = [f"s{n:02}" for n in range(12)]
    prices = ["9", "3", "3", "7"] * 3

    offer_upsert_batch(
        batch=[offer(provider, h100, sku=s, price=p) for s, p in zip(skus, prices, strict=True)],
        observed_at=T0,
    )

    by_id = list(Offer.objects.order_by("id").values_list("sku", flat=True))
    assert by_id == [
        "s01",
        "s02",
        "s05",
        "s06",
        "s09",
        "s10",
        "s03",
        "s07",
        "s11",
        "s00",
        "s04",
        "s08",
    ]


def test_a_mixed_batch_is_counted_and_written_in_a_fixed_number_of_queries(provider, h100):
    # given 3 offers, one to stay, one to reprice, one untouched by the batch
    offer_upsert_batch(
        batch=[offer(provider, h100, sku=s) for s in ("same", "repriced", "absent")],
        observed_at=T0,
    )
    batch = [offer(provider, h100, sku="same"), offer(provider, h100, sku="repriced", price="9")]
    batch += [offer(provider, h100, sku=f"new-{n}") for n in range(200)]
    # when
    with CaptureQueriesContext(connection) as queries:
        counts = offer_upsert_batch(batch=batch, observed_at=T1)
    # then: savepoint, drop + create the batch table, COPY, does any exist?, the upsert,
    # release
    assert counts == UpsertCounts(created=200, updated=1, unchanged=1)
    assert len(queries) <= 7, [q["sql"][:40] for q in queries]
    assert Offer.objects.get(sku="absent").observed_at == T0
    assert history("repriced") == ["23.920000", "9.000000"]
    # the first change stores the listing price (at creation) and the new one
    assert stored_points("repriced") == [("23.920000", T0), ("9.000000", T1)]
    assert OfferPrice.objects.count() == 2


def test_a_batch_of_new_offers_is_inserted_with_its_price_history(provider, h100):
    batch = [offer(provider, h100, sku=f"new-{n}") for n in range(3)]

    counts = offer_upsert_batch(batch=batch, observed_at=T0)

    assert counts == UpsertCounts(created=3)
    assert list(Offer.objects.order_by("pk").values_list("sku", flat=True)) == [
        "new-0", "new-1", "new-2"
    ]  # fmt: skip
    assert history("new-1") == ["23.920000"]


def test_only_the_first_change_stores_the_listing_price(provider, h100):
    offer_upsert_batch(batch=[offer(provider, h100)], observed_at=T0)
    offer_upsert_batch(batch=[offer(provider, h100, price="21.5")], observed_at=T1)
    # when
    offer_upsert_batch(batch=[offer(provider, h100, price="20")], observed_at=T2)
    # then
    assert stored_points("h100x8") == [
        ("23.920000", T0), ("21.500000", T1), ("20.000000", T2)
    ]  # fmt: skip
    assert history("h100x8") == ["23.920000", "21.500000", "20.000000"]


def prepared(provider, h100, skus):
    return offer_writer.offer_batch_prepare(batch=[offer(provider, h100, sku=s) for s in skus])


def test_an_expected_new_batch_is_copied_straight_into_the_offer_table(provider, h100):
    # when
    with CaptureQueriesContext(connection) as queries:
        counts = offer_writer.offer_upsert_prepared(
            prepared=prepared(provider, h100, ["a", "b", "c"]), observed_at=T0, expect_new=True
        )
    # then: no batch table, no matching statement
    assert counts == UpsertCounts(created=3)
    assert not [q for q in queries if offer_writer.BATCH_TABLE in q["sql"]]
    stored = Offer.objects.order_by("id")
    assert list(stored.values_list("sku", flat=True)) == ["a", "b", "c"]
    assert {(o.status, o.observed_at, o.created_at, o.updated_at, o.suspect) for o in stored} == {
        ("active", T0, T0, T0, False)
    }
    assert (str(stored[0].price_per_gpu_hour), stored[0].suspect_reason) == ("2.990000", "")


def test_an_expected_new_batch_with_an_existing_offer_goes_the_general_way(provider, h100):
    # given
    offer_upsert_batch(batch=[offer(provider, h100, sku="b")], observed_at=T0)
    # when the guess is wrong: "b" exists
    counts = offer_writer.offer_upsert_prepared(
        prepared=prepared(provider, h100, ["a", "b", "c"]), observed_at=T1, expect_new=True
    )
    # then nothing of the failed COPY is left, and the batch is written as usual
    assert counts == UpsertCounts(created=2, unchanged=1)
    assert Offer.objects.count() == 3
    assert Offer.objects.get(sku="b").created_at == T0


def test_a_key_inserted_after_the_check_sends_the_batch_the_general_way(
    provider, h100, monkeypatch
):
    # given an offer that exists, and a check that (as if it ran before another writer's
    # insert) says none does
    offer_upsert_batch(batch=[offer(provider, h100, sku="taken")], observed_at=T0)
    monkeypatch.setattr(offer_writer, "_any_existing_sql", lambda: "SELECT false")
    # when
    counts = offer_upsert_batch(
        batch=[offer(provider, h100, sku="taken", price="9"), offer(provider, h100, sku="new")],
        observed_at=T1,
    )
    # then
    assert counts == UpsertCounts(created=1, updated=1)
    assert history("taken") == ["23.920000", "9.000000"]
    assert Offer.objects.count() == 2


def test_an_empty_batch_does_nothing(provider, h100):
    with CaptureQueriesContext(connection) as queries:
        assert offer_upsert_batch(batch=[], observed_at=T0) == UpsertCounts()
    assert [q for q in queries if "offer" in q["sql"]] == []


def test_unseen_offers_are_withdrawn_and_old_ones_go_stale(provider, h100):
    offer_upsert_batch(batch=[offer(provider, h100, sku=s) for s in ("a", "b")], observed_at=T0)
    offer_upsert_batch(batch=[offer(provider, h100, sku="a")], observed_at=T1)

    assert offers_withdraw_unseen(provider_ids=[provider.pk], seen_since=T1) == 1
    assert offers_mark_stale(provider_ids=[provider.pk], max_age=timedelta(minutes=30), now=T1) == 0
    assert (
        offers_mark_stale(
            provider_ids=[provider.pk], max_age=timedelta(minutes=30), now=T1 + timedelta(hours=1)
        )
        == 1
    )
    assert dict(Offer.objects.values_list("sku", "status")) == {"a": "stale", "b": "withdrawn"}
    assert Offer.objects.get(sku="b").available == 0


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"sku": "x" * 201}, "sku is longer than 200 characters"),
        ({"region": "r" * 101}, "region is longer than 100 characters"),
        ({"price_per_hour": Decimal("100000000")}, "price_per_hour 100000000 is out of range"),
        ({"vcpus": Decimal("-1")}, "vcpus -1 is out of range"),
        ({"gpu_count": 40000}, "gpu_count 40000 is out of range"),
        ({"available": -1}, "available -1 is out of range"),
        ({"available": 2**31}, f"available {2**31} is out of range"),
        ({"reliability": Decimal("10")}, "reliability 10 is out of range"),
        ({"reliability": Decimal("0.99")}, None),
        ({"gpu_memory_gb": Decimal("1000000")}, "gpu_memory_gb 1000000 is out of range"),
        # beyond the narrowest column's range, within its own (numeric(14, 6) for RAM)
        ({"memory_gb": Decimal("2000000")}, None),
        ({"zone": "a\x00b"}, "zone contains a NUL character"),
        # numeric(7, 1) rounds 999999.95 up to 1000000.0, which it cannot hold
        ({"vcpus": Decimal("999999.95")}, "vcpus 999999.95 is out of range"),
        ({"vcpus": Decimal("999999.9499")}, None),
        ({}, None),
    ],
)
def test_it_says_why_an_offer_cannot_be_stored(provider, h100, fields, problem):
    found = offer_input_problem(offer(provider, h100, **fields))
    assert (found or "").startswith(problem or "") and (found is None) == (problem is None)


@pytest.mark.parametrize(
    ("extra", "stored"),
    [
        ({"note": "a\x00b"}, {"note": "ab"}),
        # half a surrogate pair (a provider's JSON may escape one), next to a whole pair
        (
            {"half\ud800": ["c\udfffd"], "ok": "gpu \U0001f680"},
            {"half": ["cd"], "ok": "gpu \U0001f680"},
        ),
    ],
    ids=["nul", "lone-surrogate"],
)
def test_extra_details_jsonb_cannot_hold_are_dropped_not_the_batch(provider, h100, extra, stored):
    # jsonb refuses both characters: a refusal would fail the whole batch
    batch = [offer(provider, h100, extra=extra)]
    assert offer_upsert_batch(batch=batch, observed_at=T0) == UpsertCounts(created=1)
    assert Offer.objects.get().extra == stored


def test_the_largest_numbers_it_passes_are_stored(provider, h100):
    # given the largest values the check lets through, each just below its column's rounding
    biggest = offer(
        provider,
        h100,
        price="99999999.9999994",
        vcpus=Decimal("999999.9499"),
        gpu_memory_gb=Decimal("999999.9499"),
    )
    assert offer_input_problem(biggest) is None
    # when they are written, PostgreSQL takes them (a refusal would fail the whole batch)
    assert offer_upsert_batch(batch=[biggest], observed_at=T0) == UpsertCounts(created=1)
    assert Offer.objects.get().vcpus == Decimal("999999.9")


def test_every_field_and_awkward_text_arrive_as_sent(provider, h100):
    # given text with the characters COPY's format uses, and every field set
    item = offer(
        provider,
        h100,
        sku="a\tb\\c\nd\re",
        zone='us-east-1a "x"',
        reliability=Decimal("0.9978"),
        interconnect="sxm",
        disk_gb=Decimal("2000.5"),
        currency="EUR",
        extra={"note": "tab\there \\ back", "min_bid": "0.5", "nested": {"ok": [1, None]}},
    )
    # when
    offer_upsert_batch(batch=[item], observed_at=T0)
    # then
    stored = Offer.objects.get()
    assert {f: getattr(stored, f) for f in ("sku", "zone", "region", "pricing", "extra")} == {
        "sku": "a\tb\\c\nd\re",
        "zone": 'us-east-1a "x"',
        "region": "us-east-1",
        "pricing": "on_demand",
        "extra": {"note": "tab\there \\ back", "min_bid": "0.5", "nested": {"ok": [1, None]}},
    }
    assert {f: getattr(stored, f) for f in item.field_values() if f != "gpu_id"} == {
        f: v for f, v in item.field_values().items() if f != "gpu_id"
    }
    assert stored.gpu_id == h100.pk
    assert offer_upsert_batch(batch=[item], observed_at=T1) == UpsertCounts(unchanged=1)


def test_observed_at_never_moves_back_when_runs_overlap(provider, h100):
    # given a later run already saw the offer
    offer_upsert_batch(batch=[offer(provider, h100)], observed_at=T1)
    # when an earlier run that started before it writes the same offer late
    offer_upsert_batch(batch=[offer(provider, h100)], observed_at=T0)
    offer_upsert_batch(batch=[offer(provider, h100, price="20")], observed_at=T0)
    # then the later run's withdrawal (observed_at < T1) will not catch it
    assert Offer.objects.get().observed_at == T1
    assert offers_withdraw_unseen(provider_ids=[provider.pk], seen_since=T1) == 0
