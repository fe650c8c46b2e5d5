"""The budget page: set the organization's monthly limit through the API's service (audited,
the same rules), and see this month's spend against it and the alerts sent."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine

from accounts.models import Role
from billing.models import AuditAction, AuditRecord, Budget, Invoice
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

NOVEMBER = datetime(2026, 11, 1, tzinfo=UTC)
TODAY = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel(TODAY, tick=False):
        yield


def _signed_in(client, role=Role.FINANCE):
    member = MembershipFactory(role=role)
    client.force_login(member.user)
    return member


def test_a_finance_member_sets_the_budget(client):
    member = _signed_in(client)

    answer = client.post(
        "/org/budget/",
        {
            "monthly_limit": "500.00",
            "currency": "EUR",
            "hard_stop": "on",
            "terminate_running": "on",
        },
    )

    assert answer.status_code == 302
    budget = Budget.objects.get(org=member.org)
    assert (budget.monthly_limit, budget.currency, budget.hard_stop, budget.terminate_running) == (
        Decimal("500.00"), "EUR", True, True,
    )  # fmt: skip
    record = AuditRecord.objects.get(org=member.org, action=AuditAction.BUDGET_CHANGED)
    assert record.user == member.user and record.detail["new"]["monthly_limit"] == "500.00"
    html = client.get("/org/budget/").content.decode()
    assert "Budget saved." in html
    assert 'value="500.00"' in html and 'value="EUR"' in html


def test_it_shows_the_months_spend_against_the_limit_and_the_alerts_sent(client):
    member = _signed_in(client)
    Budget.objects.create(
        org=member.org, monthly_limit=Decimal("200.00"), currency="USD",
        alerted_80_period=NOVEMBER.date(), alerted_100_period=datetime(2026, 10, 1, tzinfo=UTC).date(),
    )  # fmt: skip
    Invoice.objects.create(
        org=member.org, period_start=NOVEMBER, period_end=datetime(2026, 12, 1, tzinfo=UTC),
        currency="USD", subtotal=Decimal("170.00"),
    )  # fmt: skip

    html = client.get("/org/budget/").content.decode()

    assert 'id="spent">170.00 USD<' in html
    assert "200.00 USD</span> (85 %)" in html
    alerts = html.split('id="alerts">', 1)[1].split("</ul>", 1)[0]
    # October's 100 % alert is not this month's
    assert alerts == "<li>80 % of the limit: alert sent this month</li>"


def test_without_a_budget_it_says_so(client):
    _signed_in(client, Role.ADMIN)

    html = client.get("/org/budget/").content.decode()

    assert "no budget set" in html and 'id="spent">0.00 USD<' in html


def test_terminating_without_a_hard_stop_is_refused_beside_the_field(client):
    member = _signed_in(client)

    answer = client.post(
        "/org/budget/", {"monthly_limit": "50", "currency": "USD", "terminate_running": "on"}
    )

    assert answer.status_code == 400
    assert "Only a hard-stop budget terminates running reservations." in answer.content.decode()
    assert not Budget.objects.filter(org=member.org).exists()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"monthly_limit": "0", "currency": "USD"},
        {"monthly_limit": "-1", "currency": "USD"},
        {"monthly_limit": "1.001", "currency": "USD"},
        {"monthly_limit": "NaN", "currency": "USD"},
        {"monthly_limit": "1e400", "currency": "USD"},
        {"monthly_limit": "12345678901234567", "currency": "USD"},
        {"monthly_limit": "5", "currency": "usd"},
        {"monthly_limit": "5", "currency": "\x00"},
    ],
)
def test_bad_input_shows_the_form_again(client, body):
    _signed_in(client)

    answer = client.post("/org/budget/", body)

    assert answer.status_code == 400
    assert 'class="error"' in answer.content.decode()
    assert not Budget.objects.exists()


def test_a_buyer_may_not_set_it(client):
    _signed_in(client, Role.BUYER)

    answer = client.post("/org/budget/", {"monthly_limit": "5", "currency": "USD"})

    assert answer.status_code == 403
    assert not Budget.objects.exists()
