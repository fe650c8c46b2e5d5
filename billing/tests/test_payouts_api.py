"""The provider payouts API: the payout account (PUT/GET, checked, audited, and what is owed
sent once it is set) and the statements (own only, paged, lines traceable to invoices).

Figures: billing/tests/payouts_fixtures.py (A's September: 9.70 gross, fee 0.97, net 8.73)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.models import AuditRecord, ProviderPayoutAccount, ProviderStatement
from billing.services.credit_notes import CreditRequest, credit_note_issue
from billing.services.payouts import statements_build
from billing.tests.payouts_fixtures import NOVEMBER, OCTOBER, SEPTEMBER, issued_invoice, mark_paid
from tests.factories import make_org_with_key

pytestmark = pytest.mark.django_db

D = Decimal
ACCOUNT_URL = "/api/v1/provider/payout-account/"
STATEMENTS_URL = "/api/v1/provider/statements/"


def test_a_provider_sets_and_reads_its_payout_account(
    api_client, earnings, django_capture_on_commit_callbacks
):
    statements_build(period=SEPTEMBER, now=NOVEMBER)  # A is owed 8.73, not yet sent
    with django_capture_on_commit_callbacks() as queued:
        response = api_client.put(
            ACCOUNT_URL, {"stripe_account": "acct_1AcmeConnect"}, format="json",
            **earnings.owner_a.headers,
        )  # fmt: skip
    assert response.status_code == 200, response.content
    assert response.json()["provider"] == "acme"
    assert response.json()["stripe_account"] == "acct_1AcmeConnect"
    # the statement waiting for it is queued for payment
    assert len(queued) == 1
    # and the change is on the organization's audit trail, with its key
    record = AuditRecord.objects.get(org=earnings.owner_a.org, action="payout_account_set")
    assert (record.subject, record.api_key_id) == (
        f"provider:{earnings.provider_a.pk}", earnings.owner_a.key.pk,
    )  # fmt: skip

    got = api_client.get(ACCOUNT_URL, **earnings.owner_a.headers)
    assert got.json()["stripe_account"] == "acct_1AcmeConnect"
    # a second PUT replaces it
    api_client.put(ACCOUNT_URL, {"stripe_account": "acct_2New"}, format="json",
                   **earnings.owner_a.headers)  # fmt: skip
    assert ProviderPayoutAccount.objects.get(provider=earnings.provider_a).stripe_account == (
        "acct_2New"
    )


@pytest.mark.parametrize(
    "body, code",
    [
        ({"stripe_account": "ba_1234"}, "invalid_stripe_account"),
        ({"stripe_account": "acct_"}, "invalid_stripe_account"),
        ({"stripe_account": "acct_12 34"}, "invalid_stripe_account"),
        ({"stripe_account": "acct_1\x00"}, "validation_error"),
        ({"stripe_account": ""}, "validation_error"),
        ({"stripe_account": 12}, "invalid_stripe_account"),
        ({"stripe_account": "acct_1" + "a" * 300}, "validation_error"),
        ({"account": "acct_1"}, "unknown_field"),
        ([], "invalid_body"),
    ],
)
def test_a_malformed_account_is_refused(api_client, earnings, body, code):
    response = api_client.put(ACCOUNT_URL, body, format="json", **earnings.owner_a.headers)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == code
    assert not ProviderPayoutAccount.objects.exists()


def test_only_a_provider_role_of_an_organization_with_a_provider_may(api_client, earnings):
    finance = make_org_with_key(role="finance", org=earnings.owner_a.org)
    refused = api_client.get(ACCOUNT_URL, **finance.headers)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "permission_denied")
    # the buyer's organization owns no provider
    owner = make_org_with_key(role="owner")
    none = api_client.get(STATEMENTS_URL, **owner.headers)
    assert none.json() == {"results": [], "next": None}
    put = api_client.put(ACCOUNT_URL, {"stripe_account": "acct_1"}, format="json", **owner.headers)
    assert (put.status_code, put.json()["error"]["code"]) == (403, "no_provider")
    # and one not set yet is not found
    missing = api_client.get(ACCOUNT_URL, **earnings.owner_a.headers)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")


def test_a_provider_lists_its_own_statements_with_their_lines(
    api_client, earnings, django_assert_num_queries
):
    # given September stated, then a credit of 6.00 on A's first line clawed back in October
    statements_build(period=SEPTEMBER, now=NOVEMBER)
    note = credit_note_issue(
        invoice_id=earnings.invoice.pk,
        request=CreditRequest(reason="Outage", lines=[(earnings.line_a.pk, D("6.00"))]),
        now=OCTOBER,
    )
    statements_build(period=OCTOBER, now=NOVEMBER)

    with django_assert_num_queries(4):  # key, its user, statements, their lines
        response = api_client.get(STATEMENTS_URL, **earnings.owner_a.headers)

    assert response.status_code == 200
    october, september = response.json()["results"]
    assert {k: september[k] for k in (
        "provider", "period_start", "period_end", "currency", "gross", "fee_percent", "fee",
        "carried", "net", "status", "transfer", "paid_at", "error",
    )} == {
        "provider": "acme", "period_start": "2026-09-01T00:00:00Z",
        "period_end": "2026-10-01T00:00:00Z", "currency": "USD", "gross": "9.70",
        "fee_percent": "10.00", "fee": "0.97", "carried": "0.00", "net": "8.73",
        "status": "payable", "transfer": "", "paid_at": None, "error": "",
    }  # fmt: skip
    first = september["lines"][0]
    assert first == {
        "id": first["id"], "kind": "earning", "invoice": earnings.invoice.pk,
        "invoice_number": "GM-2026-000001", "invoice_line": earnings.line_a.pk,
        "credit_note_number": None, "credit_note_line": None,
        "reservation": earnings.reservation_a.pk,
        "description": earnings.line_a.description, "gross": "10.05", "fee": "1.01",
        "net": "9.04",
    }  # fmt: skip
    (clawback,) = october["lines"]
    assert (clawback["kind"], clawback["invoice_line"], clawback["credit_note_number"]) == (
        "clawback", earnings.line_a.pk, note.number,
    )  # fmt: skip
    assert (clawback["gross"], clawback["fee"], clawback["net"]) == ("-6.00", "-0.60", "-5.40")
    assert (october["net"], october["status"]) == ("-5.40", "carried_over")


def test_statements_are_paged_by_cursor(api_client, earnings):
    statements_build(period=SEPTEMBER, now=NOVEMBER)
    later = issued_invoice(earnings.buyer.org, OCTOBER, "GM-2026-000002",
                           [(earnings.reservation_a, "2.00")], tax="0.20")  # fmt: skip
    mark_paid(later)
    statements_build(period=OCTOBER, now=NOVEMBER)
    first = api_client.get(STATEMENTS_URL + "?limit=1", **earnings.owner_a.headers).json()
    assert [s["period_start"][:7] for s in first["results"]] == ["2026-10"]
    second = api_client.get(
        STATEMENTS_URL + f"?limit=1&cursor={first['next']}", **earnings.owner_a.headers
    ).json()
    assert [s["period_start"][:7] for s in second["results"]] == ["2026-09"]
    assert second["next"] is None
    bad = api_client.get(STATEMENTS_URL + "?cursor=%00x", **earnings.owner_a.headers)
    assert bad.status_code == 400


def test_another_organizations_statement_is_not_found(api_client, earnings):
    statements_build(period=SEPTEMBER, now=NOVEMBER)
    b = ProviderStatement.objects.get(provider=earnings.provider_b)
    a = ProviderStatement.objects.get(provider=earnings.provider_a)

    mine = api_client.get(f"{STATEMENTS_URL}{a.pk}/", **earnings.owner_a.headers)
    theirs = api_client.get(f"{STATEMENTS_URL}{b.pk}/", **earnings.owner_a.headers)
    listed = api_client.get(STATEMENTS_URL, **earnings.owner_a.headers).json()["results"]

    assert (mine.status_code, mine.json()["net"]) == (200, "8.73")
    assert (theirs.status_code, theirs.json()["error"]["code"]) == (404, "not_found")
    assert [s["id"] for s in listed] == [a.pk]
