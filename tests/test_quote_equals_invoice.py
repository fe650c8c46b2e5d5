"""Quote = invoice (docs/billing.md): a reservation made from a quote that runs exactly its
hours and reports the quoted egress is invoiced at the quote's total to the cent, on the
simulated cloud and on a provider-listed offer. The reserved hours count from when the
instance runs, and the seconds the platform takes to end it are not billed.

The expected figures are worked out by hand in the comments, from the provider's rates."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.models import Invoice
from billing.services.invoices import reservation_meter_and_invoice
from billing.services.reconciliation import billing_reconcile
from brokers.services import launch
from brokers.tasks import end_expired_reservations
from marketplace.models import Reservation
from marketplace.tests.provider_fixtures import make_listed_offer, make_listed_provider
from tests.clock import at, frozen_at_t0
from tests.factories import OfferFactory, ProviderFactory, make_org_with_key

pytestmark = pytest.mark.django_db

TWO_HOURS = 2 * 3600
CONNECTION = {"host": "gpu-7.acme.example", "port": 22, "user": "root"}
# 1 × H100 at 2.99/h for 2 h, 100 GB of disk, 16 GB out; the provider bills 300 s of
# start-up, disk at 0.073 per GB-month and egress at 0.05 per GB:
#   compute 2.99 × 2                      = 5.98
#   boot    2.99 × 300 / 3600 = 0.249167  = 0.25
#   disk    0.073 × 100 × 1 / 730 = 0.01/h × 2 h = 0.02
#   egress  0.05 × 16                     = 0.80
#   total                                 = 7.05
RATES = {
    "boot_seconds": 300,
    "disk_price_per_gb_month": Decimal("0.073"),
    "egress_price_per_gb": Decimal("0.05"),
}
ASK = {"gpu": "H100", "hours": 2, "disk_gb": 100, "egress_gb": 16}
EXPECTED_LINES = {
    ("compute", 7200, Decimal("0"), Decimal("2.990000"), Decimal("5.98")),
    ("boot", 300, Decimal("0"), Decimal("2.990000"), Decimal("0.25")),
    ("disk", 7200, Decimal("0"), Decimal("0.010000"), Decimal("0.02")),
    ("egress", 0, Decimal("16"), Decimal("0.050000"), Decimal("0.80")),
}


def _quote_and_reserve(api_client, buyer) -> tuple[dict, Reservation]:
    quoted = api_client.post("/api/v1/quotes/", ASK, format="json", **buyer.headers)
    assert quoted.status_code == 201, quoted.content
    quote = quoted.json()["quotes"][0]
    made = api_client.post(
        "/api/v1/reservations/", {"quote": quote["id"]}, format="json", **buyer.headers
    )
    assert made.status_code == 201, made.content
    return quote, Reservation.objects.get(pk=made.json()["id"])


def _billed(reservation: Reservation) -> tuple[set, Invoice]:
    invoice = Invoice.objects.get(org_id=reservation.org_id)
    lines = {
        (line.component, line.seconds, line.gigabytes, line.price_per_hour, line.amount)
        for line in invoice.lines.all()
    }
    return lines, invoice


def test_the_simulated_cloud_is_invoiced_at_the_quote_total(api_client):
    buyer = make_org_with_key(role="buyer")
    # a cloud whose instances send 8 GB an hour out: 16 GB over the 2 h
    cloud = ProviderFactory(
        slug="quotecloud", config={"latency_seconds": 300, "egress_gb_per_instance_hour": 8}
    )
    cloud.__dict__.update(RATES)
    cloud.save()
    OfferFactory(provider=cloud, price_per_hour=Decimal("2.990000"), available=1)
    with frozen_at_t0() as clock:
        # given a quote, reserved at T0; the instance takes 300 s to boot
        quote, reservation = _quote_and_reserve(api_client, buyer)
        assert quote["total"] == "7.05"
        assert reservation.quoted_total == Decimal("7.05")
        with pytest.raises(launch.PollAgain):  # booting: the task polls again later
            launch.launch_reservation(reservation_id=reservation.pk)
        clock(300)
        launch.poll_reservation(reservation_id=reservation.pk)
        reservation.refresh_from_db()
        # then the 2 reserved hours count from when it runs, not from the order
        assert (reservation.status, reservation.running_since) == ("running", at(300))
        assert reservation.reserved_until == at(300 + TWO_HOURS)

        # when the reserved end passes, the beat notices 10 s late and the instance is gone
        # 40 s after the end
        clock(300 + TWO_HOURS - 1)
        assert end_expired_reservations() == 0
        clock(300 + TWO_HOURS + 10)
        assert end_expired_reservations() == 1
        clock(300 + TWO_HOURS + 40)
        launch.terminate_reservation(reservation_id=reservation.pk)
        reservation_meter_and_invoice(reservation_id=reservation.pk)

    # then the invoice bills each component that happened, up to the reserved end: the
    # 40 s it took to end are not billed (egress as reported: 8 × 2h40s/3600 = 16.088889 GB,
    # 0.804444 → 0.80)
    reservation.refresh_from_db()
    assert (reservation.status, reservation.ended_at) == ("terminated", at(300 + TWO_HOURS + 40))
    lines, invoice = _billed(reservation)
    egress = ("egress", 0, Decimal("16.088889"), Decimal("0.050000"), Decimal("0.80"))
    assert lines == {line for line in EXPECTED_LINES if line[0] != "egress"} | {egress}
    assert invoice.total == Decimal(quote["total"]) == Decimal("7.05")
    assert reservation.cost == Decimal("7.05")
    assert reservation.usage_seconds == TWO_HOURS
    assert billing_reconcile() == []  # usage, egress reported and the lines agree


def test_a_listed_provider_is_invoiced_at_the_quote_total(api_client):
    buyer = make_org_with_key(role="buyer")
    seller = make_listed_provider(webhook_url="https://acme.example/hooks")
    for name, value in RATES.items():
        setattr(seller.provider, name, value)
    seller.provider.save()
    make_listed_offer(seller.provider, price_per_hour=Decimal("2.990000"), available=1)
    with frozen_at_t0() as clock:
        # given a reservation from a quote, which the provider starts at T0+60
        quote, reservation = _quote_and_reserve(api_client, buyer)
        assert quote["total"] == "7.05"
        launch.launch_reservation(reservation_id=reservation.pk)
        clock(60)
        running = _event(api_client, seller, reservation, "e-1", "running", at(60))
        assert running.json()["reservation"]["running_since"] == "2026-07-01T08:01:00Z"
        reservation.refresh_from_db()
        assert reservation.reserved_until == at(60 + TWO_HOURS)

        # when it reports its end at exactly the reserved end, with the quoted egress
        clock(60 + TWO_HOURS + 5)
        ended = _event(
            api_client, seller, reservation, "e-2", "terminated", at(60 + TWO_HOURS), "16"
        )
        assert ended.json()["reservation"]["status"] == "terminated"
        # (the same report again adds nothing)
        again = _event(
            api_client, seller, reservation, "e-2", "terminated", at(60 + TWO_HOURS), "16"
        )
        assert again.json()["duplicate"] is True
        reservation_meter_and_invoice(reservation_id=reservation.pk)

    # then its invoice is the quote's total to the cent, line by line
    reservation.refresh_from_db()
    lines, invoice = _billed(reservation)
    assert lines == EXPECTED_LINES
    assert invoice.total == reservation.cost == Decimal(quote["total"]) == Decimal("7.05")
    assert billing_reconcile() == []


def _event(api_client, seller, reservation, event_id, kind, when, egress_gb=None):
    body = {"id": event_id, "type": kind, "at": when.isoformat()}
    if kind == "running":
        body["connection"] = CONNECTION
    if egress_gb is not None:
        body["egress_gb"] = egress_gb
    response = api_client.post(
        f"/api/v1/provider/reservations/{reservation.pk}/events/",
        body,
        format="json",
        **seller.headers,
    )
    assert response.status_code == 200, response.content
    return response


def test_a_reservation_from_an_offer_refuses_a_changed_price(api_client):
    # given an offer listed at 2.50/h that has since gone up to 2.75/h
    buyer = make_org_with_key(role="buyer")
    offer = OfferFactory(price_per_hour=Decimal("2.750000"), available=2)
    body = {"offer": offer.pk, "hours": 1, "expected_price_per_hour": "2.50"}

    # when the buyer reserves it at the price it saw
    refused = api_client.post("/api/v1/reservations/", body, format="json", **buyer.headers)

    # then 409 price_changed with today's price, and nothing reserved
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "price_changed"
    assert refused.json()["error"]["price_per_hour"] == "2.750000"
    assert Reservation.objects.count() == 0
    offer.refresh_from_db()
    assert offer.available == 2
    # and at today's price it goes through, priced as a quote would: 2.75 + 120 s start-up
    body["expected_price_per_hour"] = "2.75"
    made = api_client.post("/api/v1/reservations/", body, format="json", **buyer.headers)
    assert made.status_code == 201, made.content
    reservation = Reservation.objects.get()
    # 2.75 × 1 h = 2.75; 2.75 × 120 / 3600 = 0.091667 → 0.09
    assert (reservation.boot_seconds, reservation.quoted_total) == (120, Decimal("2.84"))


def test_expected_price_is_for_offers_only(api_client):
    buyer = make_org_with_key(role="buyer")
    body = {"quote": "00000000-0000-0000-0000-000000000000", "expected_price_per_hour": "1"}
    refused = api_client.post("/api/v1/reservations/", body, format="json", **buyer.headers)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "validation_error"
