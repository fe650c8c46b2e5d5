"""Budgets: the API (GET/PUT /api/v1/orgs/<id>/budget/), the hard stop at reservation time
(409 budget_exceeded), and the beat check: alerts at 80 % and 100 % once each a month, and
running reservations terminated when the organization chose it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core import mail

from billing.models import AuditRecord, Budget, Invoice, InvoiceLine
from billing.services.budgets import budgets_check
from billing.tasks import check_budgets
from marketplace.models import Reservation, ReservationStatus
from tests.factories import MembershipFactory, OfferFactory, UserFactory, make_org_with_key

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 9, 15, 12, tzinfo=UTC)
SEPTEMBER = datetime(2026, 9, 1, tzinfo=UTC)
OCTOBER = datetime(2026, 10, 1, tzinfo=UTC)
BUDGET = {
    "monthly_limit": "500.00",
    "currency": "USD",
    "hard_stop": True,
    "terminate_running": False,
}


def put_budget(client, keyed, body, org_id=None):
    url = f"/api/v1/orgs/{org_id or keyed.org.pk}/budget/"
    return client.put(url, body, format="json", **keyed.headers)


def get_budget(client, keyed, org_id=None):
    return client.get(f"/api/v1/orgs/{org_id or keyed.org.pk}/budget/", **keyed.headers)


# --- the API ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "admin", "finance"])
def test_it_puts_and_gets_the_budget(api_client, role):
    member = make_org_with_key(role=role)

    response = put_budget(api_client, member, BUDGET)

    assert response.status_code == 200, response.content
    body = response.json()
    assert {key: body[key] for key in BUDGET} == BUDGET
    assert body["org"] == member.org.pk
    assert get_budget(api_client, member).json() == body


def test_it_audits_a_budget_change_with_old_and_new_values(api_client):
    owner = make_org_with_key(role="owner")
    put_budget(api_client, owner, BUDGET)

    put_budget(api_client, owner, {"monthly_limit": "750", "currency": "EUR"})

    records = AuditRecord.objects.filter(org=owner.org, action="budget_changed").order_by("id")
    assert [(r.detail["old"], r.detail["new"]) for r in records] == [
        (None, BUDGET),
        (BUDGET, {"monthly_limit": "750.00", "currency": "EUR", "hard_stop": False,
                  "terminate_running": False}),
    ]  # fmt: skip
    assert all(r.api_key_id == owner.key.pk for r in records)


@pytest.mark.parametrize("role", ["buyer", "provider"])
def test_it_refuses_a_budget_change_to_roles_without_it(api_client, role):
    member = make_org_with_key(role=role)
    response = put_budget(api_client, member, BUDGET)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert not Budget.objects.exists()


def test_a_buyer_may_read_the_budget_a_provider_may_not(api_client):
    owner = make_org_with_key(role="owner")
    put_budget(api_client, owner, BUDGET)
    buyer = make_org_with_key(role="buyer", org=owner.org)
    provider = make_org_with_key(role="provider", org=owner.org)
    assert get_budget(api_client, buyer).json()["monthly_limit"] == "500.00"
    assert get_budget(api_client, provider).status_code == 403


def test_another_organizations_budget_is_not_found(api_client):
    owner = make_org_with_key(role="owner")
    other = make_org_with_key(role="owner")
    put_budget(api_client, other, BUDGET)

    assert put_budget(api_client, owner, BUDGET, org_id=other.org.pk).status_code == 404
    assert get_budget(api_client, owner, org_id=other.org.pk).status_code == 404
    assert get_budget(api_client, owner, org_id=999999999).status_code == 404
    assert Budget.objects.get(org=other.org).monthly_limit == Decimal("500.00")


def test_no_budget_yet_is_not_found(api_client):
    response = get_budget(api_client, make_org_with_key(role="owner"))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"monthly_limit": "0"},
        {"monthly_limit": "-5"},
        {"monthly_limit": "abc"},
        {"monthly_limit": "1.001"},
        {"monthly_limit": "1e400"},
        {"monthly_limit": "NaN"},
        {"monthly_limit": "12345678901234567"},
        {"monthly_limit": "5", "currency": "usd"},
        {"monthly_limit": "5", "currency": 7},
        {"monthly_limit": "5", "hard_stop": "maybe"},
        {"monthly_limit": "5", "terminate_running": True},
        {"monthly_limit": "5", "colour": "red"},
        ["monthly_limit"],
    ],
)
def test_it_answers_400_to_bad_input(api_client, body):
    response = put_budget(api_client, make_org_with_key(role="owner"), body)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] in ("validation_error", "unknown_field", "invalid_body")
    assert not Budget.objects.exists()


# --- the hard stop -----------------------------------------------------------------------


def test_a_one_cent_hard_stop_budget_blocks_the_next_reservation(api_client):
    # given an organization with funds and a hard-stop budget of $0.01
    owner = make_org_with_key(role="owner")
    put_budget(api_client, owner, {"monthly_limit": "0.01", "hard_stop": True})
    offer = OfferFactory(available=2)

    # when it reserves an hour (2.58)
    response = api_client.post(
        "/api/v1/reservations/", {"offer": offer.pk, "hours": "1"}, format="json", **owner.headers
    )

    # then
    assert response.status_code == 409
    error = response.json()["error"]
    assert (error["code"], error["monthly_limit"], error["spend"], error["required"]) == (
        "budget_exceeded",
        "0.01",
        "0.00",
        "2.58",
    )
    assert not Reservation.objects.filter(org=owner.org).exists()


def test_a_budget_counts_the_months_invoices_and_what_reservations_have_committed(api_client):
    # given a hard-stop budget of 10.00, a draft of 3.00 this month, and a running reservation
    # quoted 5.00 of which 1.00 is billed on that draft
    owner = make_org_with_key(role="owner")
    put_budget(api_client, owner, {"monthly_limit": "10.00", "hard_stop": True})
    running = _running(owner.org, quoted="5.00")
    _invoice(owner.org, "3.00", running, "1.00", period=_this_month())
    offer = OfferFactory(available=2)

    # when it reserves 2.58 (3.00 + 4.00 + 2.58 = 9.58 fits), then 2.58 again (12.16 does not)
    first = _reserve(api_client, owner, offer)
    second = _reserve(api_client, owner, offer)

    # then
    assert first.status_code == 201, first.content
    assert second.status_code == 409
    assert second.json()["error"]["spend"] == "9.58"


def test_a_budget_without_hard_stop_or_in_another_currency_blocks_nothing(api_client):
    owner = make_org_with_key(role="owner")
    put_budget(api_client, owner, {"monthly_limit": "0.01", "hard_stop": False})
    assert _reserve(api_client, owner, OfferFactory()).status_code == 201
    put_budget(api_client, owner, {"monthly_limit": "0.01", "currency": "EUR", "hard_stop": True})
    assert _reserve(api_client, owner, OfferFactory()).status_code == 201


# --- the beat check ----------------------------------------------------------------------


def _this_month() -> datetime:
    return datetime.now(tz=UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _reserve(client, keyed, offer):
    return client.post(
        "/api/v1/reservations/", {"offer": offer.pk, "hours": "1"}, format="json", **keyed.headers
    )


def _running(org, quoted="0", status=ReservationStatus.RUNNING) -> Reservation:
    return Reservation.objects.create(
        org=org, offer=OfferFactory(), gpus=1, units=1, hours=Decimal(10), status=status,
        price_per_hour=Decimal("1.000000"), quoted_total=Decimal(quoted),
        reserved_until=NOW + timedelta(days=1),
    )  # fmt: skip


def _invoice(org, subtotal: str, reservation, amount: str, period=SEPTEMBER) -> Invoice:
    invoice = Invoice.objects.create(
        org=org, period_start=period, period_end=period + timedelta(days=31), currency="USD",
        subtotal=Decimal(subtotal),
    )  # fmt: skip
    InvoiceLine.objects.create(
        invoice=invoice, reservation=reservation, service_period_start=period,
        description="usage", seconds=3600, price_per_hour=Decimal(amount), amount=Decimal(amount),
    )  # fmt: skip
    return invoice


@pytest.fixture
def budgeted(api_client):
    """An organization with a 100.00 budget, a finance member and a buyer (not alerted)."""
    owner = make_org_with_key(role="owner")
    MembershipFactory(org=owner.org, role="finance", user=UserFactory(email="money@example.com"))
    MembershipFactory(org=owner.org, role="buyer", user=UserFactory(email="gpus@example.com"))
    put_budget(api_client, owner, {"monthly_limit": "100.00", "hard_stop": True})
    return owner


def _spend(org, amount: str) -> None:
    """Set this month's draft to `amount` (as metering would)."""
    reservation = Reservation.objects.filter(org=org).first() or _running(org)
    invoice = Invoice.objects.filter(org=org, period_start=SEPTEMBER).first()
    if invoice is None:
        _invoice(org, amount, reservation, amount)
    else:
        Invoice.objects.filter(pk=invoice.pk).update(subtotal=Decimal(amount))


def test_it_sends_the_80_and_100_percent_alerts_once_each(budgeted):
    org = budgeted.org
    with time_machine.travel(NOW, tick=False):
        # given 79.99 spent: no alert
        _spend(org, "79.99")
        assert budgets_check() == 0
        # when 80.00 is spent, the 80 % alert goes to the owner and finance, once
        _spend(org, "80.00")
        assert budgets_check() == 1
        assert budgets_check() == 0
        # and at 100.00, the 100 % alert, once
        _spend(org, "100.00")
        assert check_budgets() == 1
        assert check_budgets() == 0

    assert [message.subject for message in mail.outbox] == [
        f"[GPU Market] {org.name}: 80 % of the monthly budget used",
        f"[GPU Market] {org.name}: monthly budget reached",
    ]
    assert sorted(mail.outbox[0].to) == sorted([budgeted.user.email, "money@example.com"])
    assert "80.00 USD" in mail.outbox[0].body and "100.00 USD" in mail.outbox[0].body
    assert "New reservations are blocked" in mail.outbox[1].body
    budget = Budget.objects.get(org=org)
    assert (budget.alerted_80_period, budget.alerted_100_period) == (
        SEPTEMBER.date(),
        SEPTEMBER.date(),
    )


def test_the_alerts_go_out_again_next_month(budgeted):
    org = budgeted.org
    with time_machine.travel(NOW, tick=False):
        _spend(org, "100.00")
        assert budgets_check() == 1  # straight to 100 %: that alert only
    # when October's invoice reaches 85.00
    reservation = Reservation.objects.filter(org=org).first()
    with time_machine.travel(OCTOBER + timedelta(days=3), tick=False):
        assert budgets_check() == 0  # nothing spent in October yet
        _invoice(org, "85.00", reservation, "85.00", period=OCTOBER)
        assert budgets_check() == 1
    assert len(mail.outbox) == 2
    assert "80 %" in mail.outbox[1].subject


def test_a_new_limit_starts_the_alerts_afresh(api_client, budgeted):
    org = budgeted.org
    with time_machine.travel(NOW, tick=False):
        _spend(org, "90.00")
        assert budgets_check() == 1
        put_budget(api_client, budgeted, {"monthly_limit": "110.00", "hard_stop": True})
        assert budgets_check() == 1  # 90 of 110 is past 80 % of the new limit
    assert len(mail.outbox) == 2


def test_it_terminates_running_reservations_when_the_organization_chose_it(
    api_client, budgeted, monkeypatch
):
    # given a hard stop that terminates, reached, with a running and a pending reservation
    from marketplace.services import reservations as reservation_services

    queued = []
    monkeypatch.setattr(
        reservation_services, "enqueue_on_commit", lambda task, *args: queued.append((task, args))
    )
    put_budget(api_client, budgeted, {"monthly_limit": "100.00", "hard_stop": True,
                                      "terminate_running": True})  # fmt: skip
    running = _running(budgeted.org)
    pending = _running(budgeted.org, status=ReservationStatus.PENDING)
    ended = _running(budgeted.org, status=ReservationStatus.TERMINATED)
    other = _running(make_org_with_key().org)

    with time_machine.travel(NOW, tick=False):
        _spend(budgeted.org, "99.99")
        budgets_check()
        assert Reservation.objects.get(pk=running.pk).status == ReservationStatus.RUNNING
        # when the limit is reached
        _spend(budgeted.org, "100.00")
        budgets_check()
        budgets_check()  # and again: nothing more

    # then the running one is terminating (its task queued once), the pending one ended
    statuses = dict(Reservation.objects.values_list("pk", "status"))
    assert statuses[running.pk] == ReservationStatus.TERMINATING
    assert statuses[pending.pk] == ReservationStatus.TERMINATED
    assert statuses[ended.pk] == ReservationStatus.TERMINATED
    assert statuses[other.pk] == ReservationStatus.RUNNING
    assert [args for task, args in queued] == [(running.pk,)]


def test_a_hard_stop_that_does_not_terminate_leaves_reservations_running(budgeted):
    running = _running(budgeted.org)
    with time_machine.travel(NOW, tick=False):
        _spend(budgeted.org, "150.00")
        budgets_check()
    assert Reservation.objects.get(pk=running.pk).status == ReservationStatus.RUNNING
