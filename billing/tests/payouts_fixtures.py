"""Providers owned by organizations, a buyer's September invoice with their lines, paid.

Fee 10 %. Provider A (acme): lines 10.05 and 0.05, and an adjustment of -0.40 taking back
August: A's share 9.70, its fee rounded once on the share as the ledger does, 0.97 (per line
it would be 1.01 + 0.01 - 0.04 = 0.98), net 8.73. Provider B (bolt): 3.33, fee 0.33, net
3.00. A system provider (no organization): 1.00, never on a statement. Subtotal 14.03, tax
1.40, total 15.43.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billing.models import Invoice, InvoiceLine, InvoiceStatus
from billing.services.ledger import ledger_post_invoice
from marketplace.models import Provider, ProviderKind, Reservation
from tests.factories import KeyedOrg, OfferFactory, ProviderFactory, make_org_with_key

AUGUST = datetime(2026, 8, 1, tzinfo=UTC)
SEPTEMBER = datetime(2026, 9, 1, tzinfo=UTC)
OCTOBER = datetime(2026, 10, 1, tzinfo=UTC)
NOVEMBER = datetime(2026, 11, 1, tzinfo=UTC)
DECEMBER = datetime(2026, 12, 1, tzinfo=UTC)
PRICE = Decimal("3.600000")


@dataclass
class Earnings:
    buyer: KeyedOrg
    owner_a: KeyedOrg  # a provider key of A's organization
    owner_b: KeyedOrg
    provider_a: Provider
    provider_b: Provider
    system: Provider
    reservation_a: Reservation
    invoice: Invoice
    line_a: InvoiceLine
    small_a: InvoiceLine
    adjustment_a: InvoiceLine
    line_b: InvoiceLine


def owned_provider(slug: str) -> tuple[KeyedOrg, Provider]:
    owner = make_org_with_key(role="provider")
    provider = ProviderFactory(
        slug=slug, name=slug.title(), org=owner.org, kind=ProviderKind.LISTED
    )
    return owner, provider


def reservation_of(org, provider: Provider) -> Reservation:
    return Reservation.objects.create(
        org=org, offer=OfferFactory(provider=provider), gpus=1, units=1, hours=Decimal(48),
        price_per_hour=PRICE, reserved_until=SEPTEMBER + timedelta(days=2),
    )  # fmt: skip


def line(invoice, reservation, amount: str, *, kind="compute", period=None) -> InvoiceLine:
    seconds = int(Decimal(amount) * 1000)
    return InvoiceLine.objects.create(
        invoice=invoice, reservation=reservation, kind=kind,
        service_period_start=period or invoice.period_start,
        description=f"Reservation {reservation.pk}: {seconds} s", seconds=seconds,
        # a price of its own: a line is unique per (reservation, component, price, month)
        price_per_hour=PRICE + Decimal(invoice.lines.count()) / 1000, amount=Decimal(amount),
    )  # fmt: skip


def issued_invoice(org, period: datetime, number: str, lines: list[tuple], tax: str) -> Invoice:
    """An invoice finalised as invoice_finalize does (numbered, posted to the ledger), with
    `lines` of (reservation, amount[, kind, service period])."""
    end = OCTOBER if period == SEPTEMBER else period + timedelta(days=31)
    invoice = Invoice.objects.create(org=org, period_start=period, period_end=end, currency="USD")
    made = [
        line(invoice, r, amount, **({"kind": rest[0], "period": rest[1]} if rest else {}))
        for r, amount, *rest in lines
    ]
    subtotal = sum((m.amount for m in made), start=Decimal(0))
    total = subtotal + Decimal(tax)
    issued = end + timedelta(hours=2)
    Invoice.objects.filter(pk=invoice.pk).update(
        status=InvoiceStatus.OPEN, number=number, issued_at=issued,
        due_at=issued + timedelta(days=14), subtotal=subtotal, tax=Decimal(tax), total=total,
        amount_due=total,
    )  # fmt: skip
    invoice.refresh_from_db()
    ledger_post_invoice(invoice)
    invoice.lines_made = made
    return invoice


def mark_paid(invoice: Invoice) -> None:
    """What the payments part does when the buyer pays (Invoice.status = paid)."""
    Invoice.objects.filter(pk=invoice.pk).update(status=InvoiceStatus.PAID, amount_due=0)


@pytest.fixture
def earnings(db, settings) -> Earnings:
    settings.PLATFORM_FEE_PERCENT = Decimal("10")
    buyer = make_org_with_key(role="finance")
    owner_a, provider_a = owned_provider("acme")
    owner_b, provider_b = owned_provider("bolt")
    system = ProviderFactory(slug="bigcloud", name="Big Cloud")
    reservation_a = reservation_of(buyer.org, provider_a)
    reservation_b = reservation_of(buyer.org, provider_b)
    invoice = issued_invoice(
        buyer.org, SEPTEMBER, "GM-2026-000001",
        [(reservation_a, "10.05"), (reservation_a, "0.05"),
         (reservation_a, "-0.40", "adjustment", AUGUST), (reservation_b, "3.33"),
         (reservation_of(buyer.org, system), "1.00")],
        tax="1.40",
    )  # fmt: skip
    mark_paid(invoice)
    line_a, small_a, adjustment_a, line_b, _ = invoice.lines_made
    return Earnings(
        buyer, owner_a, owner_b, provider_a, provider_b, system, reservation_a, invoice,
        line_a, small_a, adjustment_a, line_b,
    )  # fmt: skip
