"""The notice on the organization's pages: an uncollectible invoice blocks reservations, and
the month's budget alerts, for the organization the signed-in member acts for only."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import Budget, InvoiceStatus
from billing.periods import month_start
from tests.factories import InvoiceFactory, make_org_with_key

pytestmark = pytest.mark.django_db

NOTICE = '<p class="notice" role="alert">'


def _page(client, member) -> str:
    client.force_login(member.user)
    return client.get("/reservations/").content.decode()


def _notice(html: str) -> str:
    if NOTICE not in html:
        return ""
    return html.split(NOTICE, 1)[1].split("</p>", 1)[0]


def _budget(org, *, hard_stop=True, alerted_80=None, alerted_100=None) -> Budget:
    return Budget.objects.create(
        org=org, monthly_limit=Decimal("100.00"), hard_stop=hard_stop,
        alerted_80_period=alerted_80, alerted_100_period=alerted_100,
    )  # fmt: skip


def test_no_notice_when_all_is_well(client):
    member = make_org_with_key()
    _budget(member.org)
    assert _notice(_page(client, member)) == ""


def test_it_tells_of_an_uncollectible_invoice(client):
    member = make_org_with_key()
    _budget(member.org, alerted_100=month_start(timezone.now()).date())
    InvoiceFactory(org=member.org, status=InvoiceStatus.UNCOLLECTIBLE, number="GM-2026-000007")
    assert _notice(_page(client, member)) == (
        "Invoice GM-2026-000007 is uncollectible — new reservations are blocked until it is paid."
    )


def test_it_tells_of_the_months_budget_alerts(client):
    member = make_org_with_key()
    this_month = month_start(timezone.now()).date()
    budget = _budget(member.org, alerted_80=this_month)
    assert _notice(_page(client, member)) == "Budget 80 % reached."
    Budget.objects.filter(pk=budget.pk).update(alerted_100_period=this_month)
    assert _notice(_page(client, member)) == "Budget reached — new reservations blocked."
    Budget.objects.filter(pk=budget.pk).update(hard_stop=False)
    assert _notice(_page(client, member)) == "Budget reached."


def test_last_months_alert_and_another_organizations_invoice_are_not_shown(client):
    member = make_org_with_key()
    last_month = month_start(month_start(timezone.now()) - timedelta(days=1)).date()
    _budget(member.org, alerted_80=last_month, alerted_100=last_month)
    other = make_org_with_key()
    InvoiceFactory(org=other.org, status=InvoiceStatus.UNCOLLECTIBLE, number="GM-2026-000008")
    assert _notice(_page(client, member)) == ""
    assert _notice(_page(client, other)) != ""
