"""Failover: a launch that fails for lack of capacity (or on a provider-wide permanent error)
moves the reservation to the next-best offer within the buyer's limit, taking that offer's
capacity and returning the old one's, recording every attempt. Driven as the launch task
drives it, against the simulated cloud (one provider per behaviour)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from brokers.models import SimulatedInstance
from brokers.services import launch
from marketplace.models import GpuModel, Offer, OfferStatus, Reservation, ReservationStatus
from marketplace.services.placement import MAX_LAUNCH_ATTEMPTS
from marketplace.services.reservations import ReservationRequest, reservation_create
from tests.factories import OfferFactory, ProviderFactory, make_org_with_key

pytestmark = pytest.mark.django_db


def _provider(slug: str, **config):
    provider = ProviderFactory(slug=slug, name=slug)
    provider.config = config
    provider.save()
    return provider


def _offer(provider, price: str, **fields) -> Offer:
    return OfferFactory(provider=provider, price_per_hour=Decimal(price), **fields)


def _reserve(offer: Offer, **request) -> Reservation:
    buyer = make_org_with_key(role="buyer")
    reservation, _ = reservation_create(
        org=buyer.org,
        user=buyer.user,
        request=ReservationRequest(offer_id=offer.pk, gpus=1, hours=Decimal(1), **request),
    )
    return reservation


def _available(*offers: Offer) -> list[int]:
    return [Offer.objects.get(pk=o.pk).available for o in offers]


def _attempts(reservation: Reservation) -> list[tuple]:
    return list(reservation.attempts.values_list("number", "offer_id", "outcome", "scope"))


def test_it_fails_over_to_the_next_best_offer_and_locks_its_price():
    # given a cloud out of capacity in zone a of region r1, and a second cloud that has some
    full = _provider("fullcloud", failure_rate=1, capacity_scope="zone")
    spare = _provider("sparecloud")
    reserved = _offer(full, "2.000000", region="r1", zone="a")
    same_zone = _offer(full, "2.050000", region="r1", zone="a")
    other_zone = _offer(full, "2.100000", region="r1", zone="b")
    next_best = _offer(spare, "2.200000", region="r2")
    too_dear = _offer(spare, "2.600000", region="r2", sku="dear")  # above 2.00 x 1.25
    reservation = _reserve(reserved)
    assert reservation.max_price_per_hour == Decimal("2.500000")

    # when the launch task runs
    launch.launch_reservation(reservation_id=reservation.pk)

    # then zone a is skipped, zone b is tried, and the spare cloud's offer runs it
    reservation.refresh_from_db()
    assert reservation.status == ReservationStatus.RUNNING
    assert _attempts(reservation) == [
        (1, reserved.pk, "no_capacity", "zone"),
        (2, other_zone.pk, "no_capacity", "zone"),
        (3, next_best.pk, "succeeded", ""),
    ]
    assert (reservation.offer_id, reservation.price_per_hour) == (next_best.pk, Decimal("2.2"))
    assert reservation.instance_id == SimulatedInstance.objects.get().instance_id
    # and capacity moved with it: every tried offer got its unit back, only next_best holds one
    assert _available(reserved, same_zone, other_zone, next_best, too_dear) == [4, 4, 4, 3, 4]
    # and the timeline says where it went and that the price changed
    moves = reservation.events.filter(from_status="launching", to_status="pending")
    assert [e.data["failover"]["to_offer"] for e in moves] == [other_zone.pk, next_best.pk]
    last = moves.last()
    assert last.data["failover"] == {
        "from_offer": other_zone.pk,
        "to_offer": next_best.pk,
        "old_price_per_hour": "2.100000",
        "new_price_per_hour": "2.200000",
        "price_changed": True,
        "max_price_per_hour": "2.500000",
    }
    assert "at 2.200000/h (was 2.100000/h)" in last.message


def test_it_keeps_to_the_same_requirements():
    # given a failing offer and, elsewhere, only offers that differ in one requirement each
    full = _provider("fullcloud", failure_rate=1)
    spare = _provider("sparecloud")
    listed_only = ProviderFactory(slug="catalogonly", name="catalog", launcher="")
    a100 = GpuModel.objects.get(name="A100", memory_gb=80)
    reserved = _offer(full, "2.000000")
    excluded = [
        _offer(spare, "1.000000", gpu=a100, sku="other-gpu"),
        _offer(spare, "1.000000", pricing="spot", sku="spot"),
        _offer(spare, "1.000000", suspect=True, sku="suspect"),
        _offer(spare, "1.000000", status=OfferStatus.STALE, sku="stale"),
        _offer(spare, "1.000000", available=0, sku="sold-out"),
        _offer(spare, "1.000000", currency="EUR", sku="euro"),
        _offer(spare, "2.000000", gpu_count=2, sku="two-gpus"),  # 2 GPUs: the buyer wants 1
        _offer(listed_only, "1.000000", sku="not-launchable"),
    ]
    reservation = _reserve(reserved)

    # when it launches
    launch.launch_reservation(reservation_id=reservation.pk)

    # then none of them is tried, and it fails with its one attempt
    reservation.refresh_from_db()
    assert reservation.status == ReservationStatus.FAILED
    assert _attempts(reservation) == [(1, reserved.pk, "no_capacity", "zone")]
    assert _available(reserved, *excluded) == [4, 4, 4, 4, 4, 0, 4, 4, 4]


def test_it_fails_with_the_history_when_no_offer_is_left():
    # given two offers of a cloud that is out of capacity region by region
    full = _provider("fullcloud", failure_rate=1, capacity_scope="region")
    reserved = _offer(full, "2.000000", region="r1", zone="a")
    same_region = _offer(full, "2.000000", region="r1", zone="b")
    other_region = _offer(full, "2.100000", region="r2")
    reservation = _reserve(reserved)

    # when it launches
    launch.launch_reservation(reservation_id=reservation.pk)

    # then it ends failed, saying what it tried, and every unit is back
    reservation.refresh_from_db()
    assert reservation.status == ReservationStatus.FAILED
    assert _attempts(reservation) == [
        (1, reserved.pk, "no_capacity", "region"),
        (2, other_region.pk, "no_capacity", "region"),
    ]
    assert reservation.failure_reason.startswith(
        "No capacity: simulated cloud: insufficient capacity in region."
    )
    assert f"#1 offer {reserved.pk} {reserved.sku}@r1: no capacity (region)" in (
        reservation.failure_reason
    )
    assert f"#2 offer {other_region.pk}" in reservation.failure_reason
    assert reservation.failure_reason.endswith(
        "No other 1x H100 on_demand offer within 2.500000 USD/h."
    )
    assert _available(reserved, same_region, other_region) == [4, 4, 4]
    assert not SimulatedInstance.objects.exists()
    statuses = list(reservation.events.values_list("to_status", flat=True))
    assert statuses == ["pending", "launching", "pending", "launching", "failed"]


def test_it_fails_over_only_to_other_providers_on_a_permanent_error():
    # given a cloud that rejects our credentials, with a second offer of its own, and another cloud
    broken = _provider("brokencloud", failure_rate=1, failure="permanent")
    spare = _provider("sparecloud")
    reserved = _offer(broken, "2.000000", region="r1")
    same_provider = _offer(broken, "2.000000", region="r2")
    other_provider = _offer(spare, "2.400000", region="r3")
    reservation = _reserve(reserved)

    # when it launches
    launch.launch_reservation(reservation_id=reservation.pk)

    # then the broken cloud is not tried again; the other cloud runs it
    reservation.refresh_from_db()
    assert reservation.status == ReservationStatus.RUNNING
    assert _attempts(reservation) == [
        (1, reserved.pk, "permanent_error", "provider"),
        (2, other_provider.pk, "succeeded", ""),
    ]
    assert _available(reserved, same_provider, other_provider) == [4, 4, 3]


def test_it_honours_the_buyers_own_price_limit():
    # given a buyer who accepts up to 3.00/h, and the only other offer at 2.90/h
    full = _provider("fullcloud", failure_rate=1)
    spare = _provider("sparecloud")
    reserved = _offer(full, "2.000000")
    dear = _offer(spare, "2.900000")
    reservation = _reserve(reserved, max_price_per_hour=Decimal("3.000000"))

    # when it launches
    launch.launch_reservation(reservation_id=reservation.pk)

    # then it moves to the dearer offer, within the buyer's limit
    reservation.refresh_from_db()
    assert (reservation.status, reservation.offer_id) == (ReservationStatus.RUNNING, dear.pk)
    assert reservation.price_per_hour == Decimal("2.900000")


def test_it_moves_whole_gpu_counts_between_instance_sizes():
    # given 8 GPUs reserved as one 8-GPU instance, and elsewhere only single-GPU instances
    full = _provider("fullcloud", failure_rate=1)
    spare = _provider("sparecloud")
    reserved = _offer(full, "16.000000", gpu_count=8)
    singles = _offer(spare, "1.900000", gpu_count=1, available=10)
    buyer = make_org_with_key(role="buyer")
    reservation, _ = reservation_create(
        org=buyer.org,
        user=buyer.user,
        request=ReservationRequest(offer_id=reserved.pk, gpus=8, hours=Decimal(1)),
    )

    # when it launches
    launch.launch_reservation(reservation_id=reservation.pk)

    # then it runs on eight single-GPU instances at 8 x 1.90
    reservation.refresh_from_db()
    assert (reservation.status, reservation.gpus, reservation.units) == ("running", 8, 8)
    assert reservation.price_per_hour == Decimal("15.200000")
    assert _available(reserved, singles) == [4, 2]


def test_it_stops_after_the_attempt_cap():
    # given a cloud out of capacity zone by zone, in more zones than the cap
    full = _provider("fullcloud", failure_rate=1, capacity_scope="zone")
    offers = [_offer(full, f"2.{n:02d}0000", zone=f"z{n}") for n in range(MAX_LAUNCH_ATTEMPTS + 2)]
    reservation = _reserve(offers[0])

    # when it launches
    launch.launch_reservation(reservation_id=reservation.pk)

    # then it gives up after the cap, cheapest first, with every unit back
    reservation.refresh_from_db()
    assert reservation.status == ReservationStatus.FAILED
    assert [a[1] for a in _attempts(reservation)] == [o.pk for o in offers[:MAX_LAUNCH_ATTEMPTS]]
    assert reservation.failure_reason.endswith(f"Gave up after {MAX_LAUNCH_ATTEMPTS} attempts.")
    assert _available(*offers) == [4] * len(offers)


def test_it_runs_twice_without_a_second_move():
    # given a reservation that failed over and runs
    full = _provider("fullcloud", failure_rate=1)
    spare = _provider("sparecloud")
    reserved = _offer(full, "2.000000")
    next_best = _offer(spare, "2.200000")
    reservation = _reserve(reserved)
    launch.launch_reservation(reservation_id=reservation.pk)

    # when the task is delivered again
    launch.launch_reservation(reservation_id=reservation.pk)

    # then nothing changes
    reservation.refresh_from_db()
    assert (reservation.status, reservation.offer_id) == ("running", next_best.pk)
    assert reservation.attempts.count() == 2
    assert SimulatedInstance.objects.count() == 1
    assert _available(reserved, next_best) == [4, 3]
