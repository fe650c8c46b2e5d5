"""Provider statements: what becomes payable when a buyer pays, the fee as the ledger took
it, clawbacks of credit notes on the next statement, negative nets carried, run twice.

Figures: billing/tests/payouts_fixtures.py (A: 9.70 gross, fee 0.97, net 8.73; B: 3.33,
0.33, 3.00)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.management import call_command

from billing.models import ProviderStatement, StatementLine, StatementStatus
from billing.selectors import provider_payable
from billing.services.credit_notes import CreditRequest, credit_note_issue
from billing.services.payouts import statements_build
from billing.tests.payouts_fixtures import (
    DECEMBER,
    NOVEMBER,
    OCTOBER,
    SEPTEMBER,
    issued_invoice,
    mark_paid,
)
from common.errors import DomainError

pytestmark = pytest.mark.django_db

D = Decimal


def _figures(statement: ProviderStatement) -> tuple:
    statement.refresh_from_db()
    return (
        statement.gross, statement.fee, statement.carried, statement.net, statement.fee_percent,
        statement.status,
    )  # fmt: skip


def test_it_states_each_owned_providers_share_of_paid_invoices_net_of_the_fee(earnings):
    # when September's statements are built in October
    built = statements_build(period=SEPTEMBER, now=NOVEMBER)

    # then each owned provider has one, for September, with the fee as the ledger rounded it
    by_provider = {s.provider_id: s for s in built}
    assert set(by_provider) == {earnings.provider_a.pk, earnings.provider_b.pk}
    a, b = by_provider[earnings.provider_a.pk], by_provider[earnings.provider_b.pk]
    assert _figures(a) == (D("9.70"), D("0.97"), D("0.00"), D("8.73"), D("10.00"), "payable")
    assert _figures(b) == (D("3.33"), D("0.33"), D("0.00"), D("3.00"), D("10.00"), "payable")
    assert (a.period_start, a.period_end, a.currency) == (SEPTEMBER, OCTOBER, "USD")
    # and it matches what the ledger owes each provider
    assert provider_payable(provider=earnings.provider_a, currency="USD") == D("8.73")
    assert provider_payable(provider=earnings.provider_b, currency="USD") == D("3.00")
    # and each line is traceable to its invoice line, the group's fee spread over them
    lines = list(a.lines.values_list("invoice_line_id", "gross", "fee", "net"))
    assert lines == [
        (earnings.line_a.pk, D("10.05"), D("1.01"), D("9.04")),
        (earnings.small_a.pk, D("0.05"), D("0.01"), D("0.04")),
        (earnings.adjustment_a.pk, D("-0.40"), D("-0.05"), D("-0.35")),
    ]


def test_building_twice_states_each_line_once(earnings):
    first = statements_build(period=SEPTEMBER, now=NOVEMBER)
    again = statements_build(period=SEPTEMBER, now=NOVEMBER)
    assert len(first) == 2 and again == []
    assert StatementLine.objects.count() == 4
    assert ProviderStatement.objects.count() == 2


def test_unpaid_invoices_and_system_providers_are_not_stated(earnings):
    # given an open (unpaid) October invoice of A
    issued_invoice(earnings.buyer.org, OCTOBER, "GM-2026-000002",
                   [(earnings.reservation_a, "5.00")], tax="0.50")  # fmt: skip
    statements_build(period=OCTOBER, now=NOVEMBER)
    # then only September's paid lines are stated, none of the system provider's
    assert sorted(StatementLine.objects.values_list("gross", flat=True)) == [
        D("-0.40"), D("0.05"), D("3.33"), D("10.05"),
    ]  # fmt: skip
    assert not ProviderStatement.objects.filter(provider=earnings.system).exists()


def test_a_period_not_ended_is_refused(earnings):
    with pytest.raises(DomainError) as error:
        statements_build(period=NOVEMBER, now=NOVEMBER)
    assert error.value.code == "period_not_ended"


def test_lines_paid_later_join_an_unsent_statement_and_wait_once_it_is_paid(earnings):
    # given September stated, and paid
    (a, _) = sorted(statements_build(period=SEPTEMBER, now=NOVEMBER), key=lambda s: s.pk)
    # when another September invoice of A is paid and September is built again
    later = issued_invoice(earnings.buyer.org, SEPTEMBER, "GM-2026-000002",
                           [(earnings.reservation_a, "2.00")], tax="0.20")  # fmt: skip
    mark_paid(later)
    statements_build(period=SEPTEMBER, now=NOVEMBER)
    # then the unsent statement takes it
    assert _figures(a)[:4] == (D("11.70"), D("1.17"), D("0.00"), D("10.53"))
    # and once it is paid, later lines wait for the next month's statement
    ProviderStatement.objects.filter(pk=a.pk).update(
        status=StatementStatus.PAID, paid_at=NOVEMBER, transfer="tr_1"
    )
    third = issued_invoice(earnings.buyer.org, SEPTEMBER, "GM-2026-000003",
                           [(earnings.reservation_a, "1.00")], tax="0.10")  # fmt: skip
    mark_paid(third)
    assert statements_build(period=SEPTEMBER, now=NOVEMBER) == []
    (october,) = statements_build(period=OCTOBER, now=NOVEMBER)
    assert _figures(october)[:4] == (D("1.00"), D("0.10"), D("0.00"), D("0.90"))


def test_a_credit_note_claws_back_on_the_next_statement_and_a_negative_net_carries(earnings):
    # given September stated (A: net 8.73)
    statements_build(period=SEPTEMBER, now=NOVEMBER)
    # when the buyer is credited 6.00 of A's first line in October
    credit_note_issue(
        invoice_id=earnings.invoice.pk,
        request=CreditRequest(reason="Outage", lines=[(earnings.line_a.pk, D("6.00"))]),
        now=OCTOBER + timedelta(days=15),
    )
    # then October's statement of A takes back its share (6.00 less a fee of 0.60): a
    # negative net, nothing to pay
    (october,) = statements_build(period=OCTOBER, now=NOVEMBER)
    assert october.provider_id == earnings.provider_a.pk
    assert _figures(october)[:4] == (D("-6.00"), D("-0.60"), D("0.00"), D("-5.40"))
    assert october.status == StatementStatus.CARRIED_OVER
    (clawback,) = october.lines.all()
    assert clawback.credit_note_line.invoice_line_id == earnings.line_a.pk
    # and the ledger agrees: 8.73 - 5.40
    assert provider_payable(provider=earnings.provider_a, currency="USD") == D("3.33")
    # when A earns 20.00 more in November, paid
    november = issued_invoice(earnings.buyer.org, NOVEMBER, "GM-2026-000002",
                              [(earnings.reservation_a, "20.00")], tax="2.00")  # fmt: skip
    mark_paid(november)
    (next_one,) = statements_build(period=NOVEMBER, now=DECEMBER)
    # then November's statement carries October's -5.40: 20.00 - 2.00 - 5.40
    assert _figures(next_one)[:4] == (D("20.00"), D("2.00"), D("-5.40"), D("12.60"))
    october.refresh_from_db()
    assert october.carried_to_id == next_one.pk


def test_a_credit_note_before_the_invoice_is_stated_goes_on_the_same_statement(earnings):
    # given a credit of 0.33 of B's line before anything is stated
    credit_note_issue(
        invoice_id=earnings.invoice.pk,
        request=CreditRequest(reason="Goodwill", lines=[(earnings.line_b.pk, D("0.33"))]),
        now=OCTOBER,
    )
    statements_build(period=SEPTEMBER, now=NOVEMBER)
    b = ProviderStatement.objects.get(provider=earnings.provider_b)
    # then 3.33 (fee 0.33) and -0.33 (fee -0.03): net 3.00 - 0.30
    assert _figures(b)[:4] == (D("3.00"), D("0.30"), D("0.00"), D("2.70"))
    assert provider_payable(provider=earnings.provider_b, currency="USD") == D("2.70")


def test_the_fee_percent_is_frozen_on_the_statement(earnings, settings):
    statements_build(period=SEPTEMBER, now=NOVEMBER)
    settings.PLATFORM_FEE_PERCENT = D("20")
    a = ProviderStatement.objects.get(provider=earnings.provider_a)
    assert a.fee_percent == D("10.00")


def test_the_command_builds_a_named_month(earnings, capsys):
    call_command("build_statements", "--period", "2026-09")
    out = capsys.readouterr().out
    assert "2026-09: 2 statement(s) built." in out
    assert ProviderStatement.objects.get(provider=earnings.provider_a).net == D("8.73")


def test_the_daily_beat_builds_last_month_after_the_grace_and_queues_payment(
    earnings, monkeypatch, settings
):
    from billing import tasks

    settings.BILLING_GRACE_SECONDS = 3600
    queued = []
    monkeypatch.setattr(tasks.pay_statements, "delay", lambda: queued.append(True))
    # within the grace after October ended: still September's turn (A's, B's)
    with time_machine.travel(NOVEMBER + timedelta(minutes=30), tick=False):
        assert tasks.build_statements() == 2
    assert set(ProviderStatement.objects.values_list("period_start", flat=True)) == {SEPTEMBER}
    # after it, October's: nothing new was paid
    with time_machine.travel(NOVEMBER + timedelta(hours=2), tick=False):
        assert tasks.build_statements() == 0
    assert len(queued) == 2
