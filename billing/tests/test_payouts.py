"""Paying statements by Stripe Connect transfers, against a local fake that speaks Stripe's
wire format and records each request (tests/stripe_fake.py): the net in minor
units, one idempotency key per statement kept across retries (a 500, a timeout), paid once,
the ledger's payout entry and the audit record.

Figures: billing/tests/payouts_fixtures.py (A's September net 8.73, B's 3.00)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db.models import F

from billing import tasks
from billing.models import (
    AuditRecord,
    JournalEntry,
    ProviderPayoutAccount,
    ProviderStatement,
    StatementLine,
    StatementStatus,
)
from billing.selectors import provider_payable
from billing.services.credit_notes import CreditRequest, credit_note_issue
from billing.services.payouts import statement_pay, statements_build, statements_payable_ids
from billing.services.reconciliation import Mismatch, billing_reconcile
from billing.tests.payouts_fixtures import NOVEMBER, OCTOBER, SEPTEMBER

pytestmark = pytest.mark.django_db

D = Decimal
PAID_AT = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def _statement_of_a(earnings) -> ProviderStatement:
    statements_build(period=SEPTEMBER, now=NOVEMBER)
    return ProviderStatement.objects.get(provider=earnings.provider_a)


def _account(provider, acct: str = "acct_1AcmeConnect") -> None:
    ProviderPayoutAccount.objects.create(provider=provider, stripe_account=acct)


def test_it_transfers_the_net_in_minor_units_to_the_connected_account(earnings, fake_stripe):
    # given A's September statement (net 8.73) and its connected account
    statement = _statement_of_a(earnings)
    _account(earnings.provider_a)

    # when it is paid
    paid = statement_pay(statement_id=statement.pk, now=PAID_AT)

    # then one transfer of 873 cents went to the account, keyed by the statement
    (request,) = fake_stripe.requests
    assert request.path == "/v1/transfers"
    assert request.idempotency_key == f"statement-{statement.pk}"
    assert request.form["amount"] == "873"
    assert request.form["currency"] == "usd"
    assert request.form["destination"] == "acct_1AcmeConnect"
    assert request.form["metadata[statement_id]"] == str(statement.pk)
    assert request.form["metadata[period]"] == "2026-09"
    # and the statement is paid with that transfer
    assert (paid.status, paid.transfer, paid.paid_at, paid.error) == (
        "paid", "tr_fake000001", PAID_AT, "",
    )  # fmt: skip
    # and the ledger no longer owes A anything, cash went out
    entry = JournalEntry.objects.get(source_key=f"payout:{statement.pk}")
    assert entry.kind == "payout"
    assert sorted(entry.lines.values_list("account", "provider_id", "debit", "credit")) == [
        ("cash", None, D("0.00"), D("8.73")),
        ("provider_payable", earnings.provider_a.pk, D("8.73"), D("0.00")),
    ]
    assert provider_payable(provider=earnings.provider_a, currency="USD") == D("0.00")
    # and a payout is on A's organization's audit trail, by the platform
    record = AuditRecord.objects.get(org=earnings.owner_a.org, action="payout")
    assert record.subject == f"statement:{statement.pk}"
    assert record.detail["transfer"] == "tr_fake000001"
    assert record.detail["amount"] == "8.73"
    assert (record.user_id, record.api_key_id) == (None, None)


def test_a_statement_is_paid_once(earnings, fake_stripe):
    statement = _statement_of_a(earnings)
    _account(earnings.provider_a)
    statement_pay(statement_id=statement.pk, now=PAID_AT)
    statement_pay(statement_id=statement.pk, now=PAID_AT + timedelta(hours=1))
    assert len(fake_stripe.requests) == 1
    assert JournalEntry.objects.filter(kind="payout").count() == 1
    assert statements_payable_ids() == []


def test_after_a_stripe_500_the_retry_sends_the_same_key(earnings, fake_stripe):
    # given Stripe failing the first request
    statement = _statement_of_a(earnings)
    _account(earnings.provider_a)
    fake_stripe.script = ["500"]

    # when the statement is paid: the failure is recorded, it stays payable
    failed = statement_pay(statement_id=statement.pk, now=PAID_AT)
    assert failed.status == StatementStatus.PAYABLE
    assert failed.error.startswith("stripe_unavailable:")
    assert not JournalEntry.objects.filter(kind="payout").exists()
    assert statement.pk in statements_payable_ids()

    # and retried later
    paid = statement_pay(statement_id=statement.pk, now=PAID_AT)

    # then both requests carried the same key and amount; one transfer was made
    keys = [(r.idempotency_key, r.form["amount"]) for r in fake_stripe.requests]
    assert keys == [(f"statement-{statement.pk}", "873")] * 2
    assert (paid.status, paid.transfer, paid.error, paid.attempts) == (
        "paid", "tr_fake000001", "", 2,
    )  # fmt: skip


def test_after_a_timeout_the_retry_gets_the_transfer_stripe_made(earnings, fake_stripe, settings):
    # given Stripe making the transfer but answering after our timeout
    settings.STRIPE_TIMEOUT_SECONDS = 0.5
    fake_stripe.script = ["stall"]
    fake_stripe.stall_seconds = 3
    statement = _statement_of_a(earnings)
    _account(earnings.provider_a)

    failed = statement_pay(statement_id=statement.pk, now=PAID_AT)
    assert (failed.status, failed.transfer) == ("payable", "")
    assert failed.error.startswith("stripe_unavailable:")

    # when it is retried
    paid = statement_pay(statement_id=statement.pk, now=PAID_AT)

    # then the same key found the one transfer Stripe made
    assert {r.idempotency_key for r in fake_stripe.requests} == {f"statement-{statement.pk}"}
    assert len(fake_stripe.transfers) == 1
    assert (paid.status, paid.transfer) == ("paid", "tr_fake000001")


def test_without_a_payout_account_it_records_why_and_stays_payable(earnings, fake_stripe):
    statement = _statement_of_a(earnings)
    unpaid = statement_pay(statement_id=statement.pk, now=PAID_AT)
    assert unpaid.status == StatementStatus.PAYABLE
    assert unpaid.error.startswith("no_payout_account:")
    assert fake_stripe.requests == []
    # the payout run leaves it out until an account is set
    assert statements_payable_ids() == []
    _account(earnings.provider_a)
    assert statements_payable_ids() == [statement.pk]


def test_a_negative_net_is_not_paid(earnings, fake_stripe):
    # given A's September paid, then a credit of 6.00 on it in October: net -5.40
    statement = _statement_of_a(earnings)
    _account(earnings.provider_a)
    statement_pay(statement_id=statement.pk, now=PAID_AT)
    credit_note_issue(
        invoice_id=earnings.invoice.pk,
        request=CreditRequest(reason="Outage", lines=[(earnings.line_a.pk, D("6.00"))]),
        now=OCTOBER + timedelta(days=20),
    )
    (october,) = statements_build(period=OCTOBER, now=NOVEMBER)
    # when the payout run comes
    result = statement_pay(statement_id=october.pk, now=PAID_AT)
    # then nothing is sent: it is carried over
    assert result.status == StatementStatus.CARRIED_OVER
    assert len(fake_stripe.requests) == 1
    # and the ledger owes A -5.40 (it owes the platform), which reconciliation agrees with
    assert provider_payable(provider=earnings.provider_a, currency="USD") == D("-5.40")
    assert _payout_mismatches() == []


def test_the_beat_queues_every_payable_statement(earnings, fake_stripe, monkeypatch):
    # the queued tasks run here, in this process
    monkeypatch.setattr(
        tasks.pay_statement, "delay", lambda pk: tasks.pay_statement.apply(args=[pk])
    )
    statements_build(period=SEPTEMBER, now=NOVEMBER)
    _account(earnings.provider_a)
    _account(earnings.provider_b, "acct_2BoltConnect")
    assert tasks.pay_statements() == 2
    amounts = sorted((r.form["destination"], r.form["amount"]) for r in fake_stripe.requests)
    assert amounts == [("acct_1AcmeConnect", "873"), ("acct_2BoltConnect", "300")]
    assert set(ProviderStatement.objects.values_list("status", flat=True)) == {"paid"}
    assert tasks.pay_statements() == 0


def _payout_mismatches() -> list:
    # The fixture's lines have no metered usage behind them: only the payout checks apply.
    return [m for m in billing_reconcile() if m.check in ("payouts", "provider_payable")]


def test_reconciliation_reports_a_payout_that_disagrees_with_its_statement(earnings, fake_stripe):
    # given A's statement paid, and B's waiting (the ledger agrees with both)
    statement = _statement_of_a(earnings)
    _account(earnings.provider_a)
    statement_pay(statement_id=statement.pk, now=PAID_AT)
    assert _payout_mismatches() == []

    # when the paid statement's figures are changed afterwards (1.00 more, never sent)
    ProviderStatement.objects.filter(pk=statement.pk).update(gross=F("gross") + 1, net=F("net") + 1)
    StatementLine.objects.filter(invoice_line=earnings.line_a).update(
        gross=F("gross") + 1, net=F("net") + 1
    )

    # then the payout check says so
    assert _payout_mismatches() == [
        Mismatch(
            "payouts", f"statement {statement.pk} (payout:{statement.pk})", [D("9.73")], [D("8.73")]
        ),
    ]
