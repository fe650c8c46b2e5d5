"""allow_split: plans across several offers when no single offer has enough GPUs."""

from __future__ import annotations

from decimal import Decimal

import pytest

from marketplace.models import Offer, Reservation
from marketplace.quoting.candidates import Candidate
from marketplace.quoting.plans import split_plan
from marketplace.search import clear_catalog_cache
from marketplace.tests.test_quotes_api import offer, post_quote
from tests.factories import ProviderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_catalog_cache():
    clear_catalog_cache()


def legs_of(quote) -> list[tuple[str, int, int]]:
    return [(leg["sku"], leg["units"], leg["gpus"]) for leg in quote["legs"]]


def test_it_splits_across_offers_in_one_region_when_no_single_offer_is_big_enough(
    api_client, buyer
):
    # given 8-GPU instances only, two offers in one region and one elsewhere
    offer(sku="a", price="24", available=1, region="r1")
    offer(sku="b", price="26", available=3, region="r1")
    offer(sku="c", price="20", available=1, region="r2")
    # when the buyer wants 24 H100s and allows a split
    body = {"gpu": "H100:24", "hours": 1, "allow_split": True}
    response = post_quote(api_client, buyer, body)
    # then one plan in r1: the cheaper offer first, the rest from the next one
    (quote,) = response.json()["quotes"]
    assert legs_of(quote) == [("a", 1, 8), ("b", 2, 16)]
    assert [leg["price_per_hour"] for leg in quote["legs"]] == ["24.000000", "52.000000"]
    # 76/h × (1 h + 120 s boot) = 76 + 2.533333
    assert quote["total"] == "78.53"
    assert quote["gpus"] == 24


def test_it_leaves_out_a_plan_too_dear_to_store_as_a_quote(api_client, buyer):
    # given 64 instances of 64 H100s at the highest listable price in one region (a year of
    # them is $56 billion, beyond a quote's total: it was a 500), and cheap ones in another
    offer(sku="dear", gpu_count=64, price="100000", available=64, region="r-dear")
    offer(sku="cheap", gpu_count=8, price="24", available=512, region="r-cheap")
    # when the buyer asks for 4096 GPUs for a year
    body = {"gpu": "H100:4096", "hours": 8784, "allow_split": True}
    response = post_quote(api_client, buyer, body)
    # then only the plan that can be held is quoted
    assert response.status_code == 201, response.content
    (quote,) = response.json()["quotes"]
    assert legs_of(quote) == [("cheap", 512, 4096)]
    assert Decimal(quote["total"]) < Decimal("10000000000")


def test_without_allow_split_it_finds_nothing(api_client, buyer):
    offer(sku="a", price="24", available=4)
    response = post_quote(api_client, buyer, {"gpu": "H100:16", "hours": 1}).json()
    assert response["quotes"] == []


def test_a_single_offer_wins_over_a_split_when_one_fits(api_client, buyer):
    offer(sku="small", gpu_count=1, price="1", available=16)
    offer(sku="big", gpu_count=8, price="30", available=1)
    body = {"gpu": "H100:8", "hours": 1, "allow_split": True}
    quotes = post_quote(api_client, buyer, body).json()["quotes"]
    assert [legs_of(q) for q in quotes] == [[("big", 1, 8)]]


def test_same_region_false_lets_legs_come_from_anywhere_the_filter_allows(api_client, buyer):
    other = ProviderFactory(slug="othercloud", name="Other")
    offer(sku="us", price="16", available=1, region="us-1", continent="NA")
    offer(sku="eu", price="24", available=1, region="eu-1", continent="EU", provider=other)
    offer(sku="ap", price="8", available=1, region="ap-1", continent="AS")
    body = {
        "gpu": "H100:16",
        "hours": 1,
        "allow_split": True,
        "same_region": False,
        "filter": "continent in [NA, EU]",
    }
    (quote,) = post_quote(api_client, buyer, body).json()["quotes"]
    assert legs_of(quote) == [("us", 1, 8), ("eu", 1, 8)]
    # disk and egress are shared out per leg, each at its own provider's rate
    body |= {"disk_gb": 73, "egress_gb": 10}
    (quote,) = post_quote(api_client, buyer, body).json()["quotes"]
    legs = quote["breakdown"]["legs"]
    assert [(leg["disk"], leg["egress"]) for leg in legs] == [
        ("0.01", "0.05"),  # 0.10 × 73 × 1 / 730 × 1 h; 0.01 × 10 × 8 / 16
        ("0.01", "0.05"),
    ]


def test_it_fills_an_exact_count_that_greedy_filling_misses(api_client, buyer):
    # given cheap 3-GPU instances and dearer 4-GPU ones: greedy takes 3 + 3 and is stuck at 6
    offer(sku="x3", gpu_count=3, price="3", available=2)
    offer(sku="x4", gpu_count=4, price="8", available=2)
    body = {"gpu": "H100:8", "hours": 1, "allow_split": True}
    (quote,) = post_quote(api_client, buyer, body).json()["quotes"]
    assert legs_of(quote) == [("x4", 2, 8)]


def test_an_open_count_takes_the_cheapest_gpus_even_if_it_overshoots(api_client, buyer):
    offer(sku="x8", gpu_count=8, price="8", available=2)
    offer(sku="x1", gpu_count=1, price="5", available=1)
    body = {"gpu": "H100:10..", "hours": 1, "allow_split": True}
    (quote,) = post_quote(api_client, buyer, body).json()["quotes"]
    assert legs_of(quote) == [("x8", 2, 16)]


def test_the_split_counts_left_out_offers_among_those_it_could_combine(api_client, buyer):
    offer(sku="a", price="24", available=1)
    offer(sku="b", gpu_count=2, price="5", available=4)
    offer(sku="stale", gpu_count=1, price="1", status="stale")
    body = {"gpu": "H100:16", "hours": 1, "allow_split": True}
    response = post_quote(api_client, buyer, body).json()
    assert legs_of(response["quotes"][0]) == [("b", 4, 8), ("a", 1, 8)]
    assert response["excluded"]["stale"] == 1


def test_it_returns_one_plan_per_region_cheapest_first(api_client, buyer):
    for region, price in (("r1", "30"), ("r2", "20"), ("r3", "25")):
        offer(sku=f"{region}-a", price=price, available=1, region=region)
        offer(sku=f"{region}-b", price=price, available=1, region=region)
    body = {"gpu": "H100:16", "hours": 1, "allow_split": True}
    quotes = post_quote(api_client, buyer, body).json()["quotes"]
    assert [q["legs"][0]["region"] for q in quotes] == ["r2", "r3", "r1"]


def _candidate(offer_id, gpus, available, rate):
    price = Decimal(rate)
    return Candidate(
        offer_id, 1, 1, gpus, price, price, available, "r", "s", "spot", "USD", "active", False, 0
    )


@pytest.mark.parametrize(
    ("offers", "count", "expected"),
    [
        ([(1, 3, 2, "1"), (2, 4, 2, "2")], (8, 8), [(2, 2)]),
        ([(1, 3, 2, "1"), (2, 4, 2, "2"), (3, 2, 1, "3")], (8, 8), [(1, 2), (3, 1)]),
        ([(1, 5, 1, "1")], (4, 4), None),
        ([(1, 8, 3, "1")], (20, None), [(1, 3)]),
        ([(1, 8, 2, "1")], (20, None), None),
    ],
)
def test_split_plan_meets_the_count_or_says_it_cannot(offers, count, expected):
    candidates = [_candidate(*row) for row in offers]
    legs = split_plan(
        candidates,
        count_min=count[0],
        count_max=count[1],
        unit_rate=lambda offer: offer.price_per_gpu_hour,
    )
    assert (None if legs is None else [(leg.offer.id, leg.units) for leg in legs]) == expected


def test_a_split_quote_is_reserved_whole_at_its_locked_leg_prices(api_client, buyer):
    # given a two-leg quote
    offer_a = offer(sku="a", price="24", available=1, region="r1")
    offer_b = offer(sku="b", price="26", available=1, region="r1")
    body = {"gpu": "H100:16", "hours": 1, "allow_split": True}
    (quote,) = post_quote(api_client, buyer, body).json()["quotes"]
    assert len(quote["legs"]) == 2

    # when the buyer reserves it whole (twice, with one Idempotency-Key)
    def reserve():
        return api_client.post(
            "/api/v1/reservations/",
            {"quote": quote["id"]},
            format="json",
            HTTP_IDEMPOTENCY_KEY="plan-1",
            **buyer.headers,
        )

    first, again = reserve(), reserve()

    # then one reservation per leg exists, each at its leg's locked price, capacity taken once
    assert first.status_code == 201, first.content
    plan = first.json()["plan"]
    assert len(plan) == 2 and again.json()["plan"] == plan
    assert again["Idempotent-Replayed"] == "true"
    reserved = Reservation.objects.filter(pk__in=plan).order_by("id")
    legs = {int(leg["offer"]): Decimal(leg["price_per_hour"]) for leg in quote["legs"]}
    assert {r.offer_id: r.price_per_hour for r in reserved} == legs
    assert sum(r.gpus for r in reserved) == 16
    assert [o.available for o in Offer.objects.filter(pk__in=[offer_a.pk, offer_b.pk])] == [0, 0]


def test_a_split_quote_is_all_or_nothing(api_client, buyer):
    # given a two-leg quote whose second leg is sold to someone else meanwhile
    offer(sku="a", price="24", available=1, region="r1")
    offer_b = offer(sku="b", price="26", available=1, region="r1")
    body = {"gpu": "H100:16", "hours": 1, "allow_split": True}
    (quote,) = post_quote(api_client, buyer, body).json()["quotes"]
    Offer.objects.filter(pk=offer_b.pk).update(available=0)

    # when the buyer reserves it, then nothing is reserved and no capacity is held
    response = api_client.post(
        "/api/v1/reservations/", {"quote": quote["id"]}, format="json", **buyer.headers
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "capacity_unavailable"
    assert not Reservation.objects.exists()
    assert Offer.objects.get(sku="a").available == 1
