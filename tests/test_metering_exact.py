"""Metering never bills a second twice or a second past a run's end: an end set earlier than
what was already metered (a provider's backdated `terminated`, a listed provider that never
confirms) trims the usage, and its draft invoice, in the transaction that ends the run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
import time_machine

from billing.models import Invoice, InvoiceLine, UsageRecord
from billing.services.invoices import reservation_meter_and_invoice
from brokers.services import launch
from marketplace.models import Offer, Reservation
from marketplace.services.reservations import (
    ReservationRequest,
    reservation_create,
    reservation_mark_preempted,
    reservation_mark_terminated,
)
from tests.factories import OfferFactory, make_org_with_key

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 9, 1, 8, 0, 0, tzinfo=UTC)
PRICE = Decimal("3.600000")  # a cent every 10 s: amounts are easy to check by hand
# The offers here bill no start-up time (provider boot_seconds=0): only metered seconds.


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield lambda seconds: traveller.move_to(at(seconds))


def _running(offer: Offer) -> Reservation:
    buyer = make_org_with_key(role="buyer")
    reservation, _ = reservation_create(
        org=buyer.org,
        user=buyer.user,
        request=ReservationRequest(offer_id=offer.pk, gpus=1, hours=Decimal("2")),
    )
    launch.launch_reservation(reservation_id=reservation.pk)
    return Reservation.objects.get(pk=reservation.pk)


def _usage(reservation: Reservation) -> list[tuple[datetime, datetime, int]]:
    rows = UsageRecord.objects.filter(reservation=reservation).order_by("interval_start")
    return list(rows.values_list("interval_start", "interval_end", "seconds"))


def _cents(seconds: int) -> Decimal:
    return (Decimal(seconds) * PRICE / 3600).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _draft_of(reservation: Reservation) -> tuple[list[tuple[int, Decimal]], Decimal]:
    invoice = Invoice.objects.get(org_id=reservation.org_id)
    lines = InvoiceLine.objects.filter(invoice=invoice, reservation=reservation)
    return list(lines.values_list("seconds", "amount")), invoice.total


def test_a_backdated_end_trims_the_usage_metered_past_it(clock):
    # given a reservation running since T0, metered up to T0+600
    reservation = _running(
        OfferFactory(provider__boot_seconds=0, available=1, price_per_hour=PRICE)
    )
    clock(600)
    reservation_meter_and_invoice(reservation_id=reservation.pk)
    assert _draft_of(reservation) == ([(600, _cents(600))], _cents(600))

    # when the provider reports that the instance ended at T0+100
    clock(610)
    reservation_mark_terminated(reservation_id=reservation.pk, at=at(100))

    # then only the 100 seconds it ran are metered and on the draft, before any task runs
    assert _usage(reservation) == [(T0, at(100), 100)]
    assert _draft_of(reservation) == ([(100, _cents(100))], _cents(100))
    # and metering again changes nothing
    reservation_meter_and_invoice(reservation_id=reservation.pk)
    assert _usage(reservation) == [(T0, at(100), 100)]
    assert _draft_of(reservation) == ([(100, _cents(100))], _cents(100))


def test_an_end_inside_an_earlier_interval_cuts_it_and_drops_the_later_ones(clock):
    # given usage metered in three intervals: [0, 60), [60, 120), [120, 180)
    reservation = _running(
        OfferFactory(provider__boot_seconds=0, available=1, price_per_hour=PRICE)
    )
    for seconds in (60, 120, 180):
        clock(seconds)
        reservation_meter_and_invoice(reservation_id=reservation.pk)

    # when a preemption is reported as having happened at T0+90
    reservation_mark_preempted(reservation_id=reservation.pk, at=at(90))

    # then the run is metered to its end and no further
    assert _usage(reservation) == [(T0, at(60), 60), (at(60), at(90), 30)]
    assert _draft_of(reservation) == ([(90, _cents(90))], _cents(90))


def test_another_reservations_line_on_the_same_draft_is_left_alone(clock):
    # given two reservations of one organization on one draft
    offer = OfferFactory(provider__boot_seconds=0, available=2, price_per_hour=PRICE)
    first = _running(offer)
    second = _running(offer)
    Reservation.objects.filter(pk=second.pk).update(org_id=first.org_id)
    UsageRecord.objects.filter(reservation=second).update(org_id=first.org_id)
    clock(300)
    reservation_meter_and_invoice(reservation_id=first.pk)
    reservation_meter_and_invoice(reservation_id=second.pk)

    # when the first one's end is reported at T0+50
    reservation_mark_terminated(reservation_id=first.pk, at=at(50))

    # then its line shrinks, the other's stays, and the total is the sum of the two
    invoice = Invoice.objects.get(org_id=first.org_id)
    lines = dict(InvoiceLine.objects.filter(invoice=invoice).values_list("reservation", "seconds"))
    assert lines == {first.pk: 50, second.pk: 300}
    assert invoice.total == _cents(50) + _cents(300)


def test_the_reservation_carries_what_was_metered_and_billed(clock, api_client):
    # given a running reservation metered up to T0+600
    reservation = _running(
        OfferFactory(provider__boot_seconds=0, available=1, price_per_hour=PRICE)
    )
    clock(600)
    reservation_meter_and_invoice(reservation_id=reservation.pk)

    # when its end is reported at T0+95 (9.5 cents: rounded half up to 0.10)
    reservation_mark_terminated(reservation_id=reservation.pk, at=at(95))
    reservation_meter_and_invoice(reservation_id=reservation.pk)

    # then the API shows the seconds metered and the sum of its invoice lines
    reservation.refresh_from_db()
    assert (reservation.usage_seconds, reservation.cost) == (95, Decimal("0.10"))
    key = make_org_with_key(role="buyer")
    Reservation.objects.filter(pk=reservation.pk).update(org=key.org)
    body = api_client.get(f"/api/v1/reservations/{reservation.pk}/", **key.headers).json()
    assert (body["usage_seconds"], body["cost"]) == (95, "0.10")
