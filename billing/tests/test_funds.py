"""Funds: the balance, and the check that a reservation fits in it (402 insufficient_funds,
402 account_past_due). A 1-hour reservation of a 2.50/h offer of the simulated cloud quotes
2.58: 2.50 of compute and 0.08 of its 120 s of billed start-up (0.0833, rounded once)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import Invoice, InvoiceLine, InvoiceStatus
from billing.services.ledger import ledger_post_top_up
from common.errors import DomainError
from marketplace.models import Offer, Quote, Reservation, ReservationStatus
from marketplace.services.reservations import (
    PricedLeg,
    ReservationRequest,
    reservations_create_for_plan,
)
from tests.factories import InvoiceFactory, OfferFactory, make_org_with_key

pytestmark = pytest.mark.django_db

ONE_HOUR = "2.58"
SEPTEMBER = datetime(2026, 9, 1, tzinfo=UTC)


@pytest.fixture
def no_credit(settings):
    settings.ORG_CREDIT_LIMIT = Decimal(0)


def top_up(org, amount: str, currency: str = "USD", source: str = "t1") -> None:
    ledger_post_top_up(org=org, amount=Decimal(amount), currency=currency, source_id=source)


def reserve(client, keyed, offer, hours="1"):
    return client.post(
        "/api/v1/reservations/", {"offer": offer.pk, "hours": hours}, format="json", **keyed.headers
    )


def balance(client, keyed, **params):
    return client.get("/api/v1/billing/balance/", params, **keyed.headers)


def _reservation(org, status, quoted, currency="USD") -> Reservation:
    return Reservation.objects.create(
        org=org, offer=OfferFactory(currency=currency), gpus=1, units=1, hours=Decimal(10),
        price_per_hour=Decimal("1.000000"), currency=currency, status=status,
        quoted_total=Decimal(quoted), reserved_until=SEPTEMBER + timedelta(days=1),
    )  # fmt: skip


def _draft_with_line(org, reservation, amount: str, period=SEPTEMBER) -> Invoice:
    invoice = Invoice.objects.create(
        org=org, period_start=period, period_end=period + timedelta(days=30), currency="USD",
        subtotal=Decimal(amount),
    )  # fmt: skip
    InvoiceLine.objects.create(
        invoice=invoice, reservation=reservation, service_period_start=period,
        description="usage", seconds=3600, price_per_hour=Decimal(amount), amount=Decimal(amount),
    )  # fmt: skip
    return invoice


def test_it_shows_the_balance_from_credit_invoices_and_reservations(api_client, settings):
    # given a credit limit of 50 and 100 of prepaid credit
    settings.ORG_CREDIT_LIMIT = Decimal(50)
    buyer = make_org_with_key(role="buyer")
    top_up(buyer.org, "100.00")
    # and an open invoice owing 12.50 (a paid and a void one owe nothing)
    InvoiceFactory(org=buyer.org, status=InvoiceStatus.OPEN, number="GM-2026-000001",
                   total=Decimal("12.50"), amount_due=Decimal("12.50"))  # fmt: skip
    InvoiceFactory(org=buyer.org, status=InvoiceStatus.PAID, amount_due=Decimal(0))
    InvoiceFactory(org=buyer.org, status=InvoiceStatus.VOID, amount_due=Decimal("9.00"))
    # and a running reservation quoted 10.00 of which 4.00 is on this month's draft
    running = _reservation(buyer.org, ReservationStatus.RUNNING, "10.00")
    _draft_with_line(buyer.org, running, "4.00")
    # and a pending one quoted 1.00 already billed 3.00 (never below zero), an ended one,
    # and one in euros
    pending = _reservation(buyer.org, ReservationStatus.PENDING, "1.00")
    _draft_with_line(buyer.org, pending, "3.00", period=SEPTEMBER - timedelta(days=31))
    _reservation(buyer.org, ReservationStatus.TERMINATED, "20.00")
    _reservation(buyer.org, ReservationStatus.RUNNING, "7.00", currency="EUR")
    # and another organization's money
    other = make_org_with_key()
    top_up(other.org, "500.00", source="other")
    _reservation(other.org, ReservationStatus.RUNNING, "30.00")

    # when the buyer asks for its balance
    response = balance(api_client, buyer)

    # then: 100 + 50 − (12.50 + 4.00 + 3.00) − (6.00 + 0) = 124.50
    assert response.status_code == 200, response.content
    assert response.json() == {
        "currency": "USD",
        "prepaid": "100.00",
        "credit_limit": "50.00",
        "unpaid": "19.50",
        "committed": "6.00",
        "available": "124.50",
    }
    # and in euros, only the euro reservation counts
    assert balance(api_client, buyer, currency="EUR").json() == {
        "currency": "EUR",
        "prepaid": "0.00",
        "credit_limit": "50.00",
        "unpaid": "0.00",
        "committed": "7.00",
        "available": "43.00",
    }


@pytest.mark.parametrize("role", ["owner", "admin", "buyer", "finance"])
def test_it_shows_the_balance_to_members_who_reserve_or_pay(api_client, role, no_credit):
    member = make_org_with_key(role=role)
    top_up(member.org, "5.00")
    response = balance(api_client, member)
    assert response.status_code == 200
    assert response.json()["available"] == "5.00"


def test_it_refuses_the_balance_to_a_provider_key_and_strangers(api_client):
    provider = make_org_with_key(role="provider")
    response = balance(api_client, provider)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert api_client.get("/api/v1/billing/balance/").status_code == 401


@pytest.mark.parametrize("currency", ["usd", "EURO", "", "U$D", "€"])
def test_it_answers_400_to_a_bad_currency(api_client, currency):
    response = balance(api_client, make_org_with_key(role="buyer"), currency=currency)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


def test_it_refuses_a_reservation_without_funds_with_402(api_client, no_credit):
    # given an organization with no prepaid credit and no credit limit
    buyer = make_org_with_key(role="buyer")
    offer = OfferFactory(available=2)

    # when it reserves an hour of a 2.50/h offer
    response = reserve(api_client, buyer, offer)

    # then it is told it lacks funds, and nothing is reserved or taken
    assert response.status_code == 402
    error = response.json()["error"]
    assert (error["code"], error["available"], error["required"], error["currency"]) == (
        "insufficient_funds",
        "0.00",
        ONE_HOUR,
        "USD",
    )
    assert not Reservation.objects.filter(org=buyer.org).exists()
    assert Offer.objects.get(pk=offer.pk).available == 2


def test_it_reserves_what_prepaid_credit_covers_and_counts_it_committed(api_client, no_credit):
    # given exactly one hour's worth of prepaid credit
    buyer = make_org_with_key(role="buyer")
    top_up(buyer.org, ONE_HOUR)
    offer = OfferFactory(available=2)

    # when it reserves one hour, then another
    first = reserve(api_client, buyer, offer)
    second = reserve(api_client, buyer, offer)

    # then the first fits exactly; the second finds it all committed
    assert first.status_code == 201, first.content
    assert Reservation.objects.get(pk=first.json()["id"]).quoted_total == Decimal(ONE_HOUR)
    assert second.status_code == 402
    assert second.json()["error"]["available"] == "0.00"
    assert balance(api_client, buyer).json()["committed"] == ONE_HOUR
    # and once that reservation ends, its commitment is released
    Reservation.objects.filter(pk=first.json()["id"]).update(status=ReservationStatus.TERMINATED)
    assert reserve(api_client, buyer, offer).status_code == 201


def test_it_counts_the_credit_limit_and_unpaid_invoices(api_client, settings):
    # given a credit limit of 10 and an open invoice owing 7.50
    settings.ORG_CREDIT_LIMIT = Decimal(10)
    buyer = make_org_with_key(role="buyer")
    InvoiceFactory(org=buyer.org, status=InvoiceStatus.OPEN, number="GM-2026-000009",
                   total=Decimal("7.50"), amount_due=Decimal("7.50"))  # fmt: skip
    offer = OfferFactory(available=2)

    # when it reserves one hour (2.58 > 2.50 left), then after topping up 0.08
    refused = reserve(api_client, buyer, offer)
    top_up(buyer.org, "0.08")
    accepted = reserve(api_client, buyer, offer)

    # then
    assert refused.status_code == 402
    assert refused.json()["error"]["available"] == "2.50"
    assert accepted.status_code == 201


def test_it_blocks_an_organization_with_an_uncollectible_invoice(api_client):
    # given plenty of credit but an invoice it never paid
    buyer = make_org_with_key(role="buyer")
    top_up(buyer.org, "1000.00")
    unpaid = InvoiceFactory(org=buyer.org, status=InvoiceStatus.UNCOLLECTIBLE,
                            number="GM-2026-000042", amount_due=Decimal("12.50"))  # fmt: skip

    # when it reserves
    response = reserve(api_client, buyer, OfferFactory())

    # then it is past due until it pays
    assert response.status_code == 402
    error = response.json()["error"]
    assert (error["code"], error["invoice"]) == ("account_past_due", unpaid.pk)
    assert "GM-2026-000042" in error["message"]
    # and once it is paid, it may reserve again
    Invoice.objects.filter(pk=unpaid.pk).update(status=InvoiceStatus.PAID, amount_due=0)
    assert reserve(api_client, buyer, OfferFactory()).status_code == 201


def test_the_legs_of_one_plan_see_each_other(no_credit):
    # given 7.00 of credit and a plan of two legs quoted 5.00 each
    buyer = make_org_with_key(role="buyer")
    top_up(buyer.org, "7.00")
    offers = [OfferFactory(available=1), OfferFactory(available=1)]
    legs = [
        (ReservationRequest(offer_id=offer.pk, gpus=1, hours=Decimal(1)),
         PricedLeg(price_per_hour=Decimal("5.000000"), total=Decimal("5.00")))
        for offer in offers
    ]  # fmt: skip

    quote = Quote.objects.create(
        org=buyer.org, hours=Decimal(1), total=Decimal("10.00"),
        expires_at=timezone.now() + timedelta(minutes=2),
    )  # fmt: skip

    # when the plan is reserved
    with pytest.raises(DomainError) as raised:
        reservations_create_for_plan(org=buyer.org, user=buyer.user, quote=quote, legs=legs)

    # then the second leg finds the first committed: nothing of the plan is reserved
    assert raised.value.code == "insufficient_funds"
    assert raised.value.extra["available"] == "2.00"
    assert not Reservation.objects.filter(org=buyer.org).exists()
    assert [Offer.objects.get(pk=offer.pk).available for offer in offers] == [1, 1]


def test_a_quote_is_reserved_only_if_the_funds_cover_its_total(api_client, no_credit):
    # given a quote for an hour of a 2.50/h H100 (2.58 all in), and 2.57 of credit
    buyer = make_org_with_key(role="buyer")
    top_up(buyer.org, "2.57")
    offer = OfferFactory(available=1)
    quote = api_client.post(
        "/api/v1/quotes/", {"gpu": "H100", "hours": 1}, format="json", **buyer.headers
    ).json()["quotes"][0]
    assert quote["total"] == ONE_HOUR

    # when it is reserved, then again with a cent more of credit
    refused = api_client.post(
        "/api/v1/reservations/", {"quote": quote["id"]}, format="json", **buyer.headers
    )
    top_up(buyer.org, "0.01", source="t2")
    accepted = api_client.post(
        "/api/v1/reservations/", {"quote": quote["id"]}, format="json", **buyer.headers
    )

    # then
    assert refused.status_code == 402
    assert refused.json()["error"]["required"] == ONE_HOUR
    assert Offer.objects.get(pk=offer.pk).available == 0
    assert accepted.status_code == 201, accepted.content
