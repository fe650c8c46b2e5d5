"""Prepaid credit pays invoices at finalisation, before any card is charged: what it covers
is posted to the ledger (prepaid_credit Dr / receivable Cr), taken off `amount_due`, and an
invoice left owing nothing is paid at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import Organization
from billing.models import (
    AuditRecord,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    JournalEntry,
    JournalEntryKind,
)
from billing.selectors import org_prepaid_credit, org_receivable
from billing.services.finalisation import invoice_finalize
from billing.services.funds import prepaid_credit_apply
from billing.services.ledger import ledger_post_top_up
from billing.services.reconciliation import billing_reconcile
from marketplace.models import Reservation
from tests.factories import OfferFactory, make_org_with_key

pytestmark = pytest.mark.django_db

SEPTEMBER = datetime(2026, 9, 1, tzinfo=UTC)
OCTOBER = datetime(2026, 10, 1, tzinfo=UTC)
LEDGER_CHECKS = ("posted", "entry_balances", "receivable")


def _draft(org, amount: str, currency: str = "USD") -> Invoice:
    """A September draft with one line of `amount` (no tax: the test seller is in the US)."""
    reservation = Reservation.objects.create(
        org=org, offer=OfferFactory(), gpus=1, units=1, hours=Decimal(1), currency=currency,
        price_per_hour=Decimal(amount), reserved_until=SEPTEMBER + timedelta(days=1),
    )  # fmt: skip
    invoice = Invoice.objects.create(
        org=org, period_start=SEPTEMBER, period_end=OCTOBER, currency=currency,
        subtotal=Decimal(amount),
    )  # fmt: skip
    InvoiceLine.objects.create(
        invoice=invoice, reservation=reservation, service_period_start=SEPTEMBER,
        description="1 h", seconds=3600, price_per_hour=Decimal(amount), amount=Decimal(amount),
    )  # fmt: skip
    return invoice


def _ledger_mismatches():
    return [m for m in billing_reconcile() if m.check in LEDGER_CHECKS]


def test_it_pays_an_invoice_that_prepaid_credit_covers():
    # given 10.00 of prepaid credit and a draft of 4.00
    org = make_org_with_key().org
    ledger_post_top_up(org=org, amount=Decimal("10.00"), currency="USD", source_id="t1")
    draft = _draft(org, "4.00")

    # when it is finalised
    invoice = invoice_finalize(invoice_id=draft.pk, now=OCTOBER + timedelta(hours=1))

    # then the credit paid it all: it is paid, owes nothing, and 6.00 of credit is left
    invoice.refresh_from_db()
    assert (invoice.status, invoice.total, invoice.amount_due) == (
        InvoiceStatus.PAID,
        Decimal("4.00"),
        Decimal("0.00"),
    )
    assert org_prepaid_credit(org=org, currency="USD") == Decimal("6.00")
    assert org_receivable(org=org, currency="USD") == Decimal("0.00")
    entry = JournalEntry.objects.get(source_key=f"credit_applied:{invoice.pk}")
    assert entry.kind == JournalEntryKind.CREDIT_APPLIED
    assert sorted((line.account, line.debit, line.credit) for line in entry.lines.all()) == [
        ("accounts_receivable", Decimal("0.00"), Decimal("4.00")),
        ("prepaid_credit", Decimal("4.00"), Decimal("0.00")),
    ]
    record = AuditRecord.objects.get(org=org, action="invoice_paid")
    assert (record.subject, record.user, record.detail["amount"]) == (
        f"invoice:{invoice.pk}",
        None,
        "4.00",
    )
    # and the ledger still reconciles
    assert _ledger_mismatches() == []


def test_it_pays_part_of_an_invoice_that_credit_does_not_cover():
    # given 3.00 of prepaid credit and a draft of 4.25
    org = make_org_with_key().org
    ledger_post_top_up(org=org, amount=Decimal("3.00"), currency="USD", source_id="t1")
    draft = _draft(org, "4.25")

    # when it is finalised
    invoice_finalize(invoice_id=draft.pk, now=OCTOBER + timedelta(hours=1))

    # then 1.25 is still due on an open invoice, and no credit is left
    invoice = Invoice.objects.get(pk=draft.pk)
    assert (invoice.status, invoice.amount_due) == (InvoiceStatus.OPEN, Decimal("1.25"))
    assert org_prepaid_credit(org=org, currency="USD") == Decimal("0.00")
    assert org_receivable(org=org, currency="USD") == Decimal("1.25")
    assert not AuditRecord.objects.filter(org=org, action="invoice_paid").exists()
    assert _ledger_mismatches() == []
    # and applying again applies nothing more
    assert prepaid_credit_apply(invoice) == Decimal(0)
    assert JournalEntry.objects.filter(kind=JournalEntryKind.CREDIT_APPLIED).count() == 1


def test_credit_in_another_currency_or_of_another_organization_does_not_pay():
    # given credit in euros, and another organization's dollars
    org = make_org_with_key().org
    ledger_post_top_up(org=org, amount=Decimal("50.00"), currency="EUR", source_id="eur")
    other = make_org_with_key().org
    ledger_post_top_up(org=other, amount=Decimal("50.00"), currency="USD", source_id="usd")
    draft = _draft(org, "4.00")

    # when a dollar invoice is finalised
    invoice_finalize(invoice_id=draft.pk, now=OCTOBER + timedelta(hours=1))

    # then it owes all of it
    invoice = Invoice.objects.get(pk=draft.pk)
    assert (invoice.status, invoice.amount_due) == (InvoiceStatus.OPEN, Decimal("4.00"))
    assert not JournalEntry.objects.filter(kind=JournalEntryKind.CREDIT_APPLIED).exists()


def test_seed_demo_gives_the_demo_organization_prepaid_credit_once():
    # when the demo is seeded twice
    out = StringIO()
    call_command("seed_demo", stdout=out)
    call_command("seed_demo", stdout=out)

    # then its organization has 25.00 of prepaid credit, given once
    org = Organization.objects.get(memberships__user__email="demo@gpumarket.local")
    assert org_prepaid_credit(org=org, currency="USD") == Decimal("25.00")
    assert JournalEntry.objects.filter(kind=JournalEntryKind.TOP_UP).count() == 1
    assert AuditRecord.objects.filter(org=org, action="top_up_credited").count() == 1
    assert "demo prepaid credit: 25.00 USD" in out.getvalue()
    assert "demo prepaid credit: given before" in out.getvalue()
