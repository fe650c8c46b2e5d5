"""Spot reservations preempted by the cloud: usage stops at the preemption time, capacity
returns to the offer, and with `auto_relaunch` the reservation is placed again through the
same launch path, metered per run so that the gap between runs is never billed.

Driven as the tasks drive it (the running check, the launch task, the usage recorder), on
the simulated cloud, with frozen time so that every second can be counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from billing.models import Invoice, UsageRecord
from billing.services.invoices import reservation_meter_and_invoice
from billing.services.usage import usage_record_for_reservation
from brokers.models import SimulatedInstance
from brokers.services import launch
from common.errors import DomainError
from marketplace.models import Offer, Reservation, ReservationStatus
from marketplace.services.reservations import (
    ReservationRequest,
    reservation_create,
    reservation_request_termination,
)
from tests.factories import OfferFactory, ProviderFactory, make_org_with_key

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield lambda seconds: traveller.move_to(at(seconds))


def _spot_offer(price="1.200000", **fields) -> Offer:
    provider = ProviderFactory()
    provider.config = {"preempt_after_seconds": 600}
    provider.save()
    return OfferFactory(
        provider=provider, pricing="spot", price_per_hour=Decimal(price), available=2, **fields
    )


def _running_spot_reservation(offer: Offer, *, auto_relaunch=True, hours="2") -> Reservation:
    buyer = make_org_with_key(role="buyer")
    reservation, _ = reservation_create(
        org=buyer.org,
        user=buyer.user,
        request=ReservationRequest(
            offer_id=offer.pk, gpus=1, hours=Decimal(hours), auto_relaunch=auto_relaunch
        ),
    )
    launch.launch_reservation(reservation_id=reservation.pk)
    reservation.refresh_from_db()
    assert (reservation.status, reservation.running_since) == ("running", T0)
    return reservation


def _intervals(reservation) -> list[tuple[datetime, datetime, int]]:
    return list(
        UsageRecord.objects.filter(reservation=reservation)
        .order_by("interval_start")
        .values_list("interval_start", "interval_end", "run__number")
    )


def _statuses(reservation) -> list[str]:
    return list(reservation.events.values_list("to_status", flat=True))


def test_it_stops_usage_at_the_preemption_and_meters_the_relaunch_as_a_new_run(clock):
    # given a spot reservation with auto_relaunch, running since T0 on a cloud that takes
    # spot instances back after 600 s, metered once at T0+300
    offer = _spot_offer()
    reservation = _running_spot_reservation(offer)
    clock(300)
    usage_record_for_reservation(reservation_id=reservation.pk)

    # when the running check comes by at T0+900
    clock(900)
    launch.check_running_reservation(reservation_id=reservation.pk)

    # then it was preempted at T0+600: usage stops there and the capacity is back
    reservation.refresh_from_db()
    assert (reservation.status, reservation.ended_at) == ("preempted", at(600))
    assert Offer.objects.get(pk=offer.pk).available == 2
    usage_record_for_reservation(reservation_id=reservation.pk)
    assert _intervals(reservation) == [(T0, at(300), 1), (at(300), at(600), 1)]

    # when the launch task (queued by the preemption) runs
    launch.launch_reservation(reservation_id=reservation.pk)

    # then it runs again on a new instance, from T0+900, under a new attempt and a new run
    reservation.refresh_from_db()
    assert (reservation.status, reservation.running_since) == ("running", at(900))
    assert reservation.ended_at is None
    assert SimulatedInstance.objects.count() == 2
    assert reservation.instance_id == SimulatedInstance.objects.latest("id").instance_id
    assert list(reservation.attempts.values_list("number", "outcome")) == [
        (1, "succeeded"),
        (2, "succeeded"),
    ]
    assert Offer.objects.get(pk=offer.pk).available == 1

    # when it is metered at T0+1000 and terminated by the buyer at T0+1200
    clock(1000)
    usage_record_for_reservation(reservation_id=reservation.pk)
    clock(1200)
    reservation_request_termination(reservation=reservation)
    launch.terminate_reservation(reservation_id=reservation.pk)
    reservation_meter_and_invoice(reservation_id=reservation.pk)
    reservation_meter_and_invoice(reservation_id=reservation.pk)

    # then the two runs are billed, each second once, and the 300 s gap is not
    assert _intervals(reservation) == [
        (T0, at(300), 1),
        (at(300), at(600), 1),
        (at(900), at(1000), 2),
        (at(1000), at(1200), 2),
    ]
    assert list(reservation.runs.values_list("started_at", "ended_at")) == [
        (T0, at(600)),
        (at(900), at(1200)),
    ]
    # and the 2 reserved hours of running count from the first run, moved on by the gap
    reservation.refresh_from_db()
    assert reservation.reserved_until == at(2 * 3600 + 300)
    line = Invoice.objects.get(org=reservation.org).lines.get(component="compute")
    assert (line.seconds, line.amount) == (900, Decimal("0.30"))  # 900 s x 1.20/h
    boot = Invoice.objects.get(org=reservation.org).lines.get(component="boot")
    assert (boot.seconds, boot.amount) == (120, Decimal("0.04"))  # once, 120 s x 1.20/h
    reservation.refresh_from_db()
    assert reservation.cost == Decimal("0.34")
    assert Offer.objects.get(pk=offer.pk).available == 2
    assert _statuses(reservation) == [
        "pending",
        "launching",
        "running",
        "preempted",
        "pending",
        "launching",
        "running",
        "terminating",
        "terminated",
    ]


def test_it_stays_preempted_without_auto_relaunch(clock):
    # given a spot reservation without auto_relaunch
    offer = _spot_offer()
    reservation = _running_spot_reservation(offer, auto_relaunch=False)

    # when it is preempted and the launch task comes by anyway
    clock(900)
    launch.check_running_reservation(reservation_id=reservation.pk)
    launch.check_running_reservation(reservation_id=reservation.pk)
    launch.launch_reservation(reservation_id=reservation.pk)

    # then it has ended at the preemption time, with its capacity back, and 600 s of usage
    reservation.refresh_from_db()
    assert (reservation.status, reservation.ended_at) == ("preempted", at(600))
    assert SimulatedInstance.objects.count() == 1
    assert Offer.objects.get(pk=offer.pk).available == 2
    usage_record_for_reservation(reservation_id=reservation.pk)
    assert _intervals(reservation) == [(T0, at(600), 1)]
    with pytest.raises(DomainError) as refused:
        reservation_request_termination(reservation=reservation)
    assert refused.value.code == "invalid_state"


def test_it_relaunches_on_the_next_best_offer_when_its_own_is_full(clock):
    # given a preempted reservation whose offer was taken by someone else meanwhile
    offer = _spot_offer()
    elsewhere = _spot_offer(price="1.400000", region="sim-us-west-2")
    reservation = _running_spot_reservation(offer)
    clock(900)
    launch.check_running_reservation(reservation_id=reservation.pk)
    Offer.objects.filter(pk=offer.pk).update(available=0)

    # when the launch task places it again, and it is terminated at T0+1260
    launch.launch_reservation(reservation_id=reservation.pk)
    clock(1260)
    reservation_request_termination(reservation=Reservation.objects.get(pk=reservation.pk))
    launch.terminate_reservation(reservation_id=reservation.pk)
    reservation_meter_and_invoice(reservation_id=reservation.pk)

    # then the second run ran on the other offer at its price, within the 1.50 limit
    reservation.refresh_from_db()
    assert (reservation.offer_id, reservation.price_per_hour) == (elsewhere.pk, Decimal("1.4"))
    moved = reservation.events.get(from_status="preempted", to_status="pending")
    assert moved.data["failover"]["price_changed"] is True
    assert "at 1.400000/h (was 1.200000/h)" in moved.message
    # and each run is billed at its own price: 600 s at 1.20 and 360 s at 1.40
    lines = Invoice.objects.get(org=reservation.org).lines.filter(component="compute")
    assert [
        (line.seconds, line.price_per_hour, line.amount)
        for line in lines.order_by("price_per_hour")
    ] == [
        (600, Decimal("1.200000"), Decimal("0.20")),
        (360, Decimal("1.400000"), Decimal("0.14")),
    ]
    assert [Offer.objects.get(pk=o.pk).available for o in (offer, elsewhere)] == [0, 2]


def test_it_does_not_relaunch_after_the_reserved_time(clock):
    # given a 15-minute spot reservation preempted at T0+600, noticed at T0+900
    offer = _spot_offer()
    reservation = _running_spot_reservation(offer, hours="0.25")
    clock(900)
    launch.check_running_reservation(reservation_id=reservation.pk)

    # when the launch task comes by
    launch.launch_reservation(reservation_id=reservation.pk)

    # then it ends terminated at the preemption time instead of starting again
    reservation.refresh_from_db()
    assert (reservation.status, reservation.ended_at) == ("terminated", at(600))
    assert reservation.failure_reason == "Preempted at the end of the reserved time."
    assert SimulatedInstance.objects.count() == 1
    assert Offer.objects.get(pk=offer.pk).available == 2


def test_it_ends_a_reservation_whose_instance_the_provider_terminated(clock):
    # given a running on-demand reservation whose instance the cloud ended at T0+120
    provider = ProviderFactory()
    offer = OfferFactory(provider=provider, available=2)
    buyer = make_org_with_key(role="buyer")
    reservation, _ = reservation_create(
        org=buyer.org,
        user=buyer.user,
        request=ReservationRequest(offer_id=offer.pk, gpus=1, hours=Decimal(1)),
    )
    launch.launch_reservation(reservation_id=reservation.pk)
    clock(120)
    SimulatedInstance.objects.update(state="terminated", terminated_at=at(120))

    # when the running check comes by at T0+200
    clock(200)
    launch.check_running_reservation(reservation_id=reservation.pk)

    # then it ended at T0+120, with 120 s of usage and its capacity back
    reservation.refresh_from_db()
    assert (reservation.status, reservation.ended_at) == (ReservationStatus.TERMINATED, at(120))
    assert reservation.events.last().message == "Ended by the provider."
    usage_record_for_reservation(reservation_id=reservation.pk)
    assert _intervals(reservation) == [(T0, at(120), 1)]
    assert Offer.objects.get(pk=offer.pk).available == 2
