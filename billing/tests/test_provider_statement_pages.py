"""The provider pages of statements and payouts: earnings, fee, paid out and awaiting per
currency, each statement, and one statement with its lines; another organization's
statement is not found. Figures: billing/tests/payouts_fixtures.py (A: 9.70, 0.97, 8.73)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from accounts.models import Role
from billing.models import ProviderPayoutAccount, ProviderStatement, StatementStatus
from billing.services.payouts import statements_build
from billing.tests.payouts_fixtures import NOVEMBER, OCTOBER, SEPTEMBER, issued_invoice, mark_paid
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _signed_in(client, org, role=Role.PROVIDER):
    membership = MembershipFactory(org=org, role=role)
    client.force_login(membership.user)
    return membership


def _two_months_one_paid(earnings) -> tuple[ProviderStatement, ProviderStatement]:
    """A's September paid (8.73, tr_1), its October awaiting (2.00 - 0.20 = 1.80)."""
    statements_build(period=SEPTEMBER, now=NOVEMBER)
    september = ProviderStatement.objects.get(provider=earnings.provider_a)
    ProviderStatement.objects.filter(pk=september.pk).update(
        status=StatementStatus.PAID, transfer="tr_1", paid_at=datetime(2026, 10, 2, tzinfo=UTC)
    )
    later = issued_invoice(earnings.buyer.org, OCTOBER, "GM-2026-000002",
                           [(earnings.reservation_a, "2.00")], tax="0.20")  # fmt: skip
    mark_paid(later)
    (october,) = statements_build(period=OCTOBER, now=NOVEMBER)
    return september, october


def test_the_provider_page_lists_earnings_and_payouts(client, earnings, django_assert_num_queries):
    september, october = _two_months_one_paid(earnings)
    ProviderPayoutAccount.objects.create(provider=earnings.provider_a, stripe_account="acct_1A")
    _signed_in(client, earnings.owner_a.org)

    # session, user, statements, totals, the navigation's membership, the funds notice,
    # payout accounts
    with django_assert_num_queries(7) as queries:
        response = client.get("/provider/statements/")

    assert response.status_code == 200, [q["sql"][:150] for q in queries.captured_queries]
    text = _text(response.content.decode())
    assert "USD 11.70 1.17 8.73 1.80" in text  # earned, fee, paid out, awaiting
    assert "2026-10 acme USD 2.00 0.20 (10.00 %) 0.00 1.80 Payable" in text
    assert "2026-09 acme USD 9.70 0.97 (10.00 %) 0.00 8.73 Paid tr_1 2026-10-02" in text
    assert "acme: acct_1A" in text
    assert "bolt" not in text  # another organization's provider


def test_the_statement_page_shows_its_lines(client, earnings, django_assert_num_queries):
    september, _ = _two_months_one_paid(earnings)
    _signed_in(client, earnings.owner_a.org)

    # session, user, the statement, its lines with their invoices, the navigation's
    # membership, the funds notice
    with django_assert_num_queries(6):
        response = client.get(f"/provider/statements/{september.pk}/")

    assert response.status_code == 200
    text = _text(response.content.decode())
    assert f"earning GM-2026-000001 {earnings.line_a.pk} — {earnings.reservation_a.pk}" in text
    assert "10.05 1.01 9.04" in text
    assert "Total (USD) 9.70 0.97 8.73" in text


def test_another_organizations_statement_is_not_found(client, earnings):
    statements_build(period=SEPTEMBER, now=NOVEMBER)
    theirs = ProviderStatement.objects.get(provider=earnings.provider_b)
    _signed_in(client, earnings.owner_a.org)
    assert client.get(f"/provider/statements/{theirs.pk}/").status_code == 404
    # and a member of A's organization who may not provide (finance) is refused its own
    mine = ProviderStatement.objects.get(provider=earnings.provider_a)
    _signed_in(client, earnings.owner_a.org, role=Role.FINANCE)
    refused = client.get(f"/provider/statements/{mine.pk}/")
    assert refused.status_code == 403
    assert "9.70" not in refused.content.decode()


def test_the_incoming_reservations_page_links_to_statements(client, earnings):
    _signed_in(client, earnings.owner_a.org)
    assert 'href="/provider/statements/"' in client.get("/provider/").content.decode()


def test_it_needs_a_sign_in(client):
    assert client.get("/provider/statements/").status_code == 302
