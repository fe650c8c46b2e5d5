"""The ledger: what an invoice, a payment and a top-up post, balances as sums, each thing
posted once, and a database that refuses an unbalanced entry or a change to a posted one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from billing.models import Invoice, InvoiceLine, JournalEntry, JournalLine
from billing.selectors import org_prepaid_credit, org_receivable, provider_payable
from billing.services.finalisation import billing_period_close, invoice_finalize
from billing.services.ledger import (
    Posting,
    _post,
    _provider_shares,
    _split,
    ledger_post_invoice,
    ledger_post_payment,
    ledger_post_top_up,
)
from billing.tests.conftest import SEPTEMBER, _meter, _running
from tests.factories import make_org_with_key

pytestmark = pytest.mark.django_db

D = Decimal


def _lines(entry: JournalEntry) -> set[tuple]:
    return set(entry.lines.values_list("account", "org_id", "provider_id", "debit", "credit"))


def _sql(statement: str, *params) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def _immediately():
    """Run the deferred constraint triggers now, as the commit would."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def test_it_posts_an_invoice_split_per_provider_net_of_the_fee(two_providers):
    t = two_providers
    entry = JournalEntry.objects.get(source_key=f"invoice:{t.invoice.pk}")

    # A nets 10.05 - 0.40 = 9.65, fee 0.965 -> 0.97; B 3.33, fee 0.333 -> 0.33
    assert (entry.kind, entry.currency, entry.posted_at) == ("invoice", "USD", t.invoice.issued_at)
    assert _lines(entry) == {
        ("accounts_receivable", t.finance.org.pk, None, D("14.28"), D("0.00")),
        ("tax_payable", None, None, D("0.00"), D("1.30")),
        ("provider_payable", None, t.provider_a.pk, D("0.00"), D("8.68")),
        ("provider_payable", None, t.provider_b.pk, D("0.00"), D("3.00")),
        ("platform_revenue", None, None, D("0.00"), D("1.30")),
    }
    assert org_receivable(org=t.finance.org, currency="USD") == D("14.28")
    assert provider_payable(provider=t.provider_a, currency="USD") == D("8.68")
    assert provider_payable(provider=t.provider_b, currency="USD") == D("3.00")
    assert org_receivable(org=t.finance.org, currency="EUR") == 0


def test_each_providers_fee_is_rounded_once_and_revenue_takes_the_rest(two_providers, settings):
    # given a fee that rounds each provider's share up (12.5 %: 1.20625 -> 1.21, 0.41625 -> 0.42)
    settings.PLATFORM_FEE_PERCENT = D("12.5")
    lines = InvoiceLine.objects.filter(invoice=two_providers.invoice)

    # when the invoice's 12.98 before tax is split
    postings = _split(
        _provider_shares(lines, "reservation__offer__provider_id"), D("12.98"), "USD", sign=-1
    )

    # then A is owed 9.65 - 1.21, B 3.33 - 0.42, and revenue 12.98 - 8.44 - 2.91
    assert [(p.account, p.provider_id, p.amount) for p in postings] == [
        ("provider_payable", two_providers.provider_a.pk, D("-8.44")),
        ("provider_payable", two_providers.provider_b.pk, D("-2.91")),
        ("platform_revenue", None, D("-1.63")),
    ]


def test_posting_the_same_invoice_twice_posts_it_once(two_providers):
    t = two_providers
    first = JournalEntry.objects.get(source_key=f"invoice:{t.invoice.pk}")
    again = ledger_post_invoice(t.invoice)
    assert again.pk == first.pk
    assert JournalEntry.objects.filter(kind="invoice").count() == 1
    assert org_receivable(org=t.finance.org, currency="USD") == D("14.28")


def test_finalising_posts_the_invoice_in_the_same_transaction():
    # given 100 s metered in September (0.10 at 3.60/h)
    reservation = _running(make_org_with_key().org, SEPTEMBER + timedelta(days=1), "h100.1x")
    _meter(reservation, SEPTEMBER + timedelta(days=1, seconds=100))
    draft = Invoice.objects.get()

    # when a finalisation fails after posting, then nothing is posted
    with pytest.raises(RuntimeError), transaction.atomic():
        invoice_finalize(invoice_id=draft.pk)
        raise RuntimeError("the rest of the transaction failed")
    assert not JournalEntry.objects.exists()

    # when it goes through, the receivable is its total
    invoice = invoice_finalize(invoice_id=draft.pk)
    entry = JournalEntry.objects.get()
    assert entry.source_key == f"invoice:{invoice.pk}"
    assert org_receivable(org=invoice.org, currency="USD") == invoice.total == D("0.10")


def test_the_period_close_posts_each_invoice_it_finalises():
    orgs = [make_org_with_key().org for _ in range(2)]
    for seconds, org in zip((100, 250), orgs, strict=True):
        reservation = _running(org, SEPTEMBER + timedelta(days=1), f"h100.{seconds}")
        _meter(reservation, SEPTEMBER + timedelta(days=1, seconds=seconds))

    closed = billing_period_close(period=SEPTEMBER, now=datetime(2026, 10, 1, 3, tzinfo=UTC))

    assert [i.total for i in closed] == [D("0.10"), D("0.25")]
    assert [org_receivable(org=org, currency="USD") for org in orgs] == [D("0.10"), D("0.25")]
    assert set(JournalEntry.objects.values_list("source_key", flat=True)) == {
        f"invoice:{i.pk}" for i in closed
    }
    # run again: nothing more finalised, nothing more posted
    billing_period_close(period=SEPTEMBER, now=datetime(2026, 10, 1, 4, tzinfo=UTC))
    assert JournalEntry.objects.count() == 2


def test_payments_and_top_ups_post_once_each():
    org = make_org_with_key().org
    ledger_post_payment(org=org, amount=D("14.28"), currency="USD", source_id="pi_1")
    ledger_post_payment(org=org, amount=D("14.28"), currency="USD", source_id="pi_1")
    ledger_post_top_up(org=org, amount=D("50.00"), currency="USD", source_id="pi_2")

    assert org_receivable(org=org, currency="USD") == D("-14.28")
    assert org_prepaid_credit(org=org, currency="USD") == D("50.00")
    payment = JournalEntry.objects.get(source_key="payment:pi_1")
    assert _lines(payment) == {
        ("cash", None, None, D("14.28"), D("0.00")),
        ("accounts_receivable", org.pk, None, D("0.00"), D("14.28")),
    }
    top_up = JournalEntry.objects.get(source_key="top_up:pi_2")
    assert _lines(top_up) == {
        ("cash", None, None, D("50.00"), D("0.00")),
        ("prepaid_credit", org.pk, None, D("0.00"), D("50.00")),
    }


def test_the_service_refuses_an_entry_that_does_not_balance():
    org = make_org_with_key().org
    with pytest.raises(ValueError, match="does not balance"):
        _post(
            kind="payment", source_key="payment:x", currency="USD", posted_at=SEPTEMBER, memo="",
            postings=[Posting("cash", D("1.00")), Posting("accounts_receivable", D("-0.99"), org.pk)],
        )  # fmt: skip
    assert not JournalEntry.objects.exists()


def test_the_database_refuses_an_entry_that_does_not_balance_at_commit():
    org = make_org_with_key().org
    with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic():
        entry = JournalEntry.objects.create(
            kind="payment", source_key="payment:y", currency="USD", posted_at=SEPTEMBER
        )
        JournalLine.objects.create(entry=entry, account="cash", debit=D("1.00"))
        JournalLine.objects.create(
            entry=entry, account="accounts_receivable", org=org, credit=D("0.99")
        )
        _immediately()

    # lines of one entry may be written one by one: only the sum at commit counts
    with transaction.atomic():
        entry = JournalEntry.objects.create(
            kind="payment", source_key="payment:z", currency="USD", posted_at=SEPTEMBER
        )
        JournalLine.objects.create(entry=entry, account="cash", debit=D("1.00"))
        JournalLine.objects.create(
            entry=entry, account="accounts_receivable", org=org, credit=D("1.00")
        )
        _immediately()
    assert org_receivable(org=org, currency="USD") == D("-1.00")


@pytest.mark.parametrize(
    "line",
    [
        {"account": "cash", "debit": D("1.00"), "credit": D("1.00")},  # both sides
        {"account": "cash", "debit": D("-1.00")},  # negative
        {"account": "cash"},  # neither
        {"account": "accounts_receivable", "debit": D("1.00")},  # receivable of nobody
        {"account": "cash", "debit": D("1.00"), "with_org": True},  # cash of an org
    ],
)
def test_the_database_refuses_a_malformed_line(line):
    org = make_org_with_key().org
    entry = JournalEntry.objects.create(
        kind="payment", source_key="payment:m", currency="USD", posted_at=SEPTEMBER
    )
    fields = {k: v for k, v in line.items() if k != "with_org"}
    with pytest.raises(IntegrityError), transaction.atomic():
        JournalLine.objects.create(entry=entry, org=org if line.get("with_org") else None, **fields)


def test_posted_entries_and_lines_cannot_change_or_go(two_providers):
    entry = JournalEntry.objects.get()
    line = entry.lines.first()
    for attempt in (
        lambda: JournalEntry.objects.filter(pk=entry.pk).update(memo="rewritten"),
        lambda: _sql("DELETE FROM billing_journalentry WHERE id = %s", entry.pk),
        lambda: JournalLine.objects.filter(pk=line.pk).update(debit=line.debit + 1),
        lambda: JournalLine.objects.filter(pk=line.pk).delete(),
    ):
        with (
            pytest.raises(IntegrityError, match="cannot be changed or deleted"),
            transaction.atomic(),
        ):
            attempt()
    assert org_receivable(org=two_providers.finance.org, currency="USD") == D("14.28")
