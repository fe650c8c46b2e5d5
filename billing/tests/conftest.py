"""A month filed and the next one running, for the export and PDF tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
import time_machine

from billing.models import Invoice, InvoiceStatus
from billing.services.finalisation import billing_period_close
from billing.services.invoices import reservation_meter_and_invoice
from marketplace.models import Reservation, ReservationRun, ReservationStatus
from tests.factories import KeyedOrg, OfferFactory, OrganizationFactory, make_org_with_key

SEPTEMBER = datetime(2026, 9, 1, tzinfo=UTC)
OCTOBER = datetime(2026, 10, 1, tzinfo=UTC)
CLOSED_AT = OCTOBER + timedelta(hours=2)
PRICE = Decimal("3.600000")  # a cent every 10 s
ORG_NAME = "Zürich Σ 東京"


def cents(seconds: int) -> Decimal:
    return (Decimal(seconds) * PRICE / 3600).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def hours(seconds: int) -> str:
    return str((Decimal(seconds) / 3600).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP))


def _running(org, since: datetime, sku: str) -> Reservation:
    offer = OfferFactory(sku=sku, region="sim-eu-west-1", zone="sim-eu-west-1a")
    reservation = Reservation.objects.create(
        org=org, offer=offer, gpus=1, units=1, hours=Decimal(48), price_per_hour=PRICE,
        status=ReservationStatus.RUNNING, running_since=since,
        reserved_until=since + timedelta(hours=48),
    )  # fmt: skip
    ReservationRun.objects.create(
        reservation=reservation, number=1, offer=offer, price_per_hour=PRICE, currency="USD",
        started_at=since,
    )  # fmt: skip
    return reservation


def _run(reservation: Reservation, *, until: datetime, metered_at: datetime) -> None:
    Reservation.objects.filter(pk=reservation.pk).update(
        status=ReservationStatus.TERMINATED, ended_at=until
    )
    reservation.runs.update(ended_at=until)
    with time_machine.travel(metered_at, tick=False):
        reservation_meter_and_invoice(reservation_id=reservation.pk)


def _meter(reservation: Reservation, at: datetime) -> None:
    with time_machine.travel(at, tick=False):
        reservation_meter_and_invoice(reservation_id=reservation.pk)


@dataclass
class Filed:
    finance: KeyedOrg
    first: Reservation  # 100 s on 2 September
    late: Reservation  # from 23:59:00 on 30 September to 00:01:40 on 1 October
    september: Invoice  # GM-2026-000001: 100 s + 40 s
    october: Invoice  # draft: the late reservation's last 20 s of September and 100 s of October
    other_org_invoice: Invoice


@pytest.fixture
def filed(db) -> Filed:
    # given an organization with a non-Latin name and two reservations in September
    finance = make_org_with_key(role="finance", org=OrganizationFactory(name=ORG_NAME))
    first = _running(finance.org, SEPTEMBER + timedelta(days=1), "h100.1x")
    _run(
        first,
        until=first.running_since + timedelta(seconds=100),
        metered_at=SEPTEMBER + timedelta(days=2),
    )
    late = _running(finance.org, OCTOBER - timedelta(seconds=60), "h100.2x")
    _meter(late, OCTOBER - timedelta(seconds=20))
    # and September closed while the meter of its last 20 s was lost
    billing_period_close(period=SEPTEMBER, now=CLOSED_AT)
    # when the late reservation ends 100 s into October and is metered
    _run(late, until=OCTOBER + timedelta(seconds=100), metered_at=OCTOBER + timedelta(seconds=200))
    # and another organization used 10 s in September (still a draft)
    other = _running(
        make_org_with_key(role="finance").org, SEPTEMBER + timedelta(days=3), "h100.4x"
    )
    _run(other, until=other.running_since + timedelta(seconds=10), metered_at=CLOSED_AT)
    invoices = Invoice.objects.filter(org=finance.org)
    return Filed(
        finance=finance,
        first=first,
        late=late,
        september=invoices.get(period_start=SEPTEMBER),
        october=invoices.get(period_start=OCTOBER, status=InvoiceStatus.DRAFT),
        other_org_invoice=Invoice.objects.get(org=other.org),
    )
