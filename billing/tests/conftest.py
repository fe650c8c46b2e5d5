"""A month filed and the next one running, for the export and PDF tests; an open invoice
with the lines of two providers, for the ledger and credit note tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
import time_machine

from billing.models import Invoice, InvoiceLine, InvoiceStatus
from billing.services.finalisation import billing_period_close
from billing.services.invoices import reservation_meter_and_invoice
from billing.services.ledger import ledger_post_invoice
from marketplace.models import Provider, Reservation, ReservationRun, ReservationStatus
from tests.factories import (
    KeyedOrg,
    OfferFactory,
    OrganizationFactory,
    ProviderFactory,
    make_org_with_key,
)

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


AUGUST = datetime(2026, 8, 1, tzinfo=UTC)
ISSUED_AT = OCTOBER + timedelta(hours=2)


@dataclass
class TwoProviders:
    """An open invoice of September, 12.98 + 1.30 tax = 14.28, with lines of two providers:
    A 10.05 and an adjustment taking back 0.40 of August (A nets 9.65), B 3.33."""

    finance: KeyedOrg
    provider_a: Provider
    provider_b: Provider
    reservation_a: Reservation
    reservation_b: Reservation
    invoice: Invoice
    line_a: InvoiceLine
    adjustment_a: InvoiceLine
    line_b: InvoiceLine


def _reservation(org, provider: Provider) -> Reservation:
    return Reservation.objects.create(
        org=org, offer=OfferFactory(provider=provider), gpus=1, units=1, hours=Decimal(48),
        price_per_hour=PRICE, reserved_until=SEPTEMBER + timedelta(days=2),
    )  # fmt: skip


def _line(invoice, reservation, kind, period, seconds, amount) -> InvoiceLine:
    return InvoiceLine.objects.create(
        invoice=invoice, reservation=reservation, kind=kind, service_period_start=period,
        description=f"Reservation {reservation.pk}: {seconds} s", seconds=seconds,
        price_per_hour=PRICE, amount=Decimal(amount),
    )  # fmt: skip


@pytest.fixture
def two_providers(db, settings) -> TwoProviders:
    settings.PLATFORM_FEE_PERCENT = Decimal("10")
    finance = make_org_with_key(role="finance")
    provider_a = ProviderFactory(slug="cloud-a", name="Cloud A")
    provider_b = ProviderFactory(slug="cloud-b", name="Cloud B")
    reservation_a = _reservation(finance.org, provider_a)
    reservation_b = _reservation(finance.org, provider_b)
    invoice = Invoice.objects.create(
        org=finance.org, period_start=SEPTEMBER, period_end=OCTOBER, currency="USD",
        subtotal=Decimal("12.98"), tax=Decimal("1.30"), total=Decimal("14.28"),
        amount_due=Decimal("14.28"),
    )  # fmt: skip
    line_a = _line(invoice, reservation_a, "compute", SEPTEMBER, 10050, "10.05")
    adjustment_a = _line(invoice, reservation_a, "adjustment", AUGUST, -400, "-0.40")
    line_b = _line(invoice, reservation_b, "compute", SEPTEMBER, 3330, "3.33")
    # Issued as invoice_finalize issues, with a tax of its own (tax is not computed here yet).
    Invoice.objects.filter(pk=invoice.pk).update(
        status=InvoiceStatus.OPEN, number="GM-2026-000001", issued_at=ISSUED_AT,
        due_at=ISSUED_AT + timedelta(days=14),
    )  # fmt: skip
    invoice.refresh_from_db()
    ledger_post_invoice(invoice)
    return TwoProviders(
        finance, provider_a, provider_b, reservation_a, reservation_b, invoice, line_a,
        adjustment_a, line_b,
    )  # fmt: skip


# The payout tests' fixtures (owned providers with paid earnings; the local Stripe Connect).
from billing.tests.payouts_fixtures import earnings  # noqa: E402, F401
from tests.stripe_fake import fake_stripe  # noqa: E402, F401
