from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from billing.models import Invoice, UsageRecord
from billing.services.exports import invoice_csv
from billing.services.invoices import reservation_meter_and_invoice
from billing.services.usage import usage_record_for_reservation
from marketplace.models import Reservation, ReservationRun, ReservationStatus
from tests.factories import OfferFactory, make_org_with_key

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 31, 23, 59, 0, tzinfo=UTC)


def _running_reservation(org, price="3.600000", since=START) -> Reservation:
    offer = OfferFactory()
    reservation = Reservation.objects.create(
        org=org,
        offer=offer,
        gpus=1,
        units=1,
        hours=Decimal(2),
        price_per_hour=Decimal(price),
        status=ReservationStatus.RUNNING,
        running_since=since,
        reserved_until=since + timedelta(hours=2),
    )
    ReservationRun.objects.create(
        reservation=reservation,
        number=1,
        offer=offer,
        price_per_hour=reservation.price_per_hour,
        currency="USD",
        started_at=since,
    )
    return reservation


def _end(reservation, ended_at, status=ReservationStatus.TERMINATED):
    Reservation.objects.filter(pk=reservation.pk).update(status=status, ended_at=ended_at)
    reservation.runs.update(ended_at=ended_at)


def test_it_records_each_second_once_even_when_run_twice():
    # given a reservation running since START
    start = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    buyer = make_org_with_key()
    reservation = _running_reservation(buyer.org, since=start)
    # when usage is recorded twice at the same moment and once later
    now = start + timedelta(seconds=30)
    first = usage_record_for_reservation(reservation_id=reservation.pk, now=now)
    second = usage_record_for_reservation(reservation_id=reservation.pk, now=now)
    later = usage_record_for_reservation(
        reservation_id=reservation.pk, now=now + timedelta(seconds=45)
    )
    # then intervals chain with no overlap and no gap
    assert [len(first), len(second), len(later)] == [1, 0, 1]
    intervals = list(
        UsageRecord.objects.filter(reservation=reservation).values_list("interval_start", "seconds")
    )
    assert intervals == [(start, 30), (start + timedelta(seconds=30), 45)]


def test_it_cuts_intervals_at_the_month_boundary():
    buyer = make_org_with_key()
    reservation = _running_reservation(buyer.org)
    usage_record_for_reservation(reservation_id=reservation.pk, now=START + timedelta(minutes=3))
    rows = list(
        UsageRecord.objects.filter(reservation=reservation).values_list("interval_end", "seconds")
    )
    assert rows == [(datetime(2026, 4, 1, tzinfo=UTC), 60), (START + timedelta(minutes=3), 120)]


def test_it_invoices_each_month_its_own_seconds_at_the_locked_price():
    # given a reservation that ran 60 s in March and 120 s in April at $3.60/h ($0.001/s)
    buyer = make_org_with_key()
    reservation = _running_reservation(buyer.org)
    _end(reservation, START + timedelta(minutes=3))
    # when it is metered and invoiced (twice: the second run changes nothing)
    with time_machine.travel(START + timedelta(hours=1)):
        reservation_meter_and_invoice(reservation_id=reservation.pk)
        reservation_meter_and_invoice(reservation_id=reservation.pk)
    # then March has 60 s = $0.06 and April 120 s = $0.12
    invoices = Invoice.objects.filter(org=buyer.org).order_by("period_start")
    assert [(i.period_start.month, i.total, i.lines.count()) for i in invoices] == [
        (3, Decimal("0.06"), 1),
        (4, Decimal("0.12"), 1),
    ]
    csv_text = invoice_csv(invoice=invoices[1])
    assert csv_text.splitlines()[1].endswith(",120,3.600000,0.12")


def test_it_rounds_once_per_line_to_the_cent():
    buyer = make_org_with_key()
    reservation = _running_reservation(
        buyer.org, price="2.990000", since=datetime(2026, 5, 1, tzinfo=UTC)
    )
    _end(reservation, datetime(2026, 5, 1, 0, 0, 7, tzinfo=UTC))
    reservation_meter_and_invoice(reservation_id=reservation.pk)
    line = Invoice.objects.get(org=buyer.org).lines.get()
    # 7 s x 2.99 / 3600 = 0.005813... -> 0.01
    assert (line.seconds, line.amount) == (7, Decimal("0.01"))


def test_it_meters_nothing_for_a_reservation_that_never_ran():
    buyer = make_org_with_key()
    reservation = _running_reservation(buyer.org)
    Reservation.objects.filter(pk=reservation.pk).update(
        status=ReservationStatus.FAILED, running_since=None
    )
    reservation.runs.all().delete()
    assert usage_record_for_reservation(reservation_id=reservation.pk) == []


def test_it_keeps_invoices_of_other_orgs_out_of_sight(api_client):
    alice, mallory = make_org_with_key(role="finance"), make_org_with_key(role="owner")
    reservation = _running_reservation(alice.org)
    _end(reservation, START + timedelta(seconds=10))
    reservation_meter_and_invoice(reservation_id=reservation.pk)
    invoice = Invoice.objects.get(org=alice.org)
    assert api_client.get("/api/v1/invoices/", **mallory.headers).json()["results"] == []
    for path in (f"/api/v1/invoices/{invoice.pk}/", f"/api/v1/invoices/{invoice.pk}/csv/"):
        response = api_client.get(path, **mallory.headers)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    mine = api_client.get("/api/v1/invoices/", **alice.headers).json()["results"]
    assert [(i["id"], i["total"]) for i in mine] == [(invoice.pk, "0.01")]


def test_it_keeps_invoices_from_buyer_keys(api_client):
    buyer = make_org_with_key(role="buyer")
    response = api_client.get("/api/v1/invoices/", **buyer.headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
