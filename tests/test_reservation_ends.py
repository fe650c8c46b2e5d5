"""How reservations end: at their reserved end time (the beat task), on request, or on
failure. Capacity returns to the offer, and every running second is recorded once."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from billing.models import UsageRecord
from billing.services.usage import usage_record_for_reservation
from brokers.models import SimulatedInstance
from brokers.services import launch
from brokers.tasks import end_expired_reservations
from marketplace.models import Offer, Reservation
from marketplace.services.reservations import (
    ReservationRequest,
    reservation_create,
    reservation_request_termination,
)
from tests.clock import T0, at, frozen_at_t0
from tests.factories import OfferFactory, make_org_with_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock():
    with frozen_at_t0() as move_to:
        yield move_to


def _reserve(offer: Offer, hours: str) -> Reservation:
    buyer = make_org_with_key(role="buyer")
    reservation, _ = reservation_create(
        org=buyer.org,
        user=buyer.user,
        request=ReservationRequest(offer_id=offer.pk, gpus=1, hours=Decimal(hours)),
    )
    return reservation


def _usage(reservation) -> list[tuple[datetime, datetime, int]]:
    return list(
        UsageRecord.objects.filter(reservation=reservation).values_list(
            "interval_start", "interval_end", "seconds"
        )
    )


def test_it_ends_running_reservations_at_their_reserved_time(clock):
    # given a half-hour reservation running since T0, and a pending one of the same length
    offer = OfferFactory(available=3)
    running = _reserve(offer, "0.5")
    launch.launch_reservation(reservation_id=running.pk)
    pending = _reserve(offer, "0.5")
    assert Offer.objects.get(pk=offer.pk).available == 1

    # when the beat runs before the end, then 10 s after it, then once more
    clock(1790)
    assert end_expired_reservations() == 0
    clock(1810)
    assert end_expired_reservations() == 2
    assert end_expired_reservations() == 0
    launch.terminate_reservation(reservation_id=running.pk)  # the queued terminate task
    launch.terminate_reservation(reservation_id=running.pk)

    # then both ended, the running one after its instance was terminated at T0+1810
    running.refresh_from_db()
    pending.refresh_from_db()
    assert (running.status, running.ended_at) == ("terminated", at(1810))
    assert (pending.status, pending.ended_at) == ("terminated", at(1810))
    assert [e.message for e in running.events.filter(to_status="terminating")] == [
        "Reserved time ended."
    ]
    assert SimulatedInstance.objects.get().state == "terminated"
    # and the capacity is back, and usage covers each running second once,
    assert Offer.objects.get(pk=offer.pk).available == 3
    usage_record_for_reservation(reservation_id=running.pk)
    usage_record_for_reservation(reservation_id=running.pk)
    # up to the reserved end: not the 10 s the platform took to act on it
    assert _usage(running) == [(T0, at(1800), 1800)]
    assert _usage(pending) == []


def test_it_ends_on_request_metering_up_to_the_termination(clock):
    # given a running reservation metered at T0+60
    offer = OfferFactory(available=1)
    reservation = _reserve(offer, "1")
    launch.launch_reservation(reservation_id=reservation.pk)
    clock(60)
    usage_record_for_reservation(reservation_id=reservation.pk)

    # when the buyer asks twice to end it at T0+90 and the instance is gone at T0+95
    clock(90)
    reservation_request_termination(reservation=Reservation.objects.get(pk=reservation.pk))
    reservation_request_termination(reservation=Reservation.objects.get(pk=reservation.pk))
    clock(95)
    launch.terminate_reservation(reservation_id=reservation.pk)
    usage_record_for_reservation(reservation_id=reservation.pk)

    # then it is billed to the second the instance ended, once, and the capacity is back
    reservation.refresh_from_db()
    assert (reservation.status, reservation.ended_at) == ("terminated", at(95))
    assert _usage(reservation) == [(T0, at(60), 60), (at(60), at(95), 35)]
    assert list(reservation.events.values_list("to_status", flat=True)) == [
        "pending",
        "launching",
        "running",
        "terminating",
        "terminated",
    ]
    assert Offer.objects.get(pk=offer.pk).available == 1
