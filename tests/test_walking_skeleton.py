"""The whole path, for real: pricing through the worker, search, reserve, launch on the
simulated cloud, run, meter, terminate, invoice, CSV. PostgreSQL, Redis and a Celery worker
process are real; nothing is eager."""

from __future__ import annotations

import csv
import io
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.utils import timezone

from billing.models import InvoiceLine
from brokers.models import PriceSync
from brokers.tasks import refresh_prices
from conftest import wait_until
from marketplace.models import Provider, Reservation
from tests.factories import backdate_running, make_org_with_key

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

RAN_SECONDS = 120  # how long the reservation has run when the buyer terminates it


def _refresh_simulated_prices_through_worker() -> None:
    refresh_prices.delay("simulated")
    wait_until(
        lambda: PriceSync.objects.filter(source="simulated", finished_at__isnull=False).exists(),
        what="the price sync to finish in the worker",
    )


def _find_single_h100_offer(client, headers) -> dict:
    response = client.get(
        "/api/v1/offers/", {"q": "provider=simcloud gpu=H100 pricing=on_demand"}, **headers
    )
    assert response.status_code == 200, response.content
    offers = [o for o in response.json()["results"] if o["gpu_count"] == 1]
    assert offers, response.json()
    return offers[0]


def _reservation(client, headers, reservation_id) -> dict:
    return client.get(f"/api/v1/reservations/{reservation_id}/", **headers).json()


def test_it_runs_the_whole_path_from_price_refresh_to_invoice_csv(
    celery_worker_process, api_client
):
    # given a buyer and fresh simulated prices refreshed by the worker
    buyer = make_org_with_key(role="owner")
    _refresh_simulated_prices_through_worker()
    offer = _find_single_h100_offer(api_client, buyer.headers)
    assert offer["price_per_hour"] == "2.990000"

    # when the buyer reserves it
    created = api_client.post(
        "/api/v1/reservations/",
        {"offer": offer["id"], "gpus": 1, "hours": "1"},
        format="json",
        **buyer.headers,
    )
    assert created.status_code == 201, created.content
    reservation_id = created.json()["id"]
    assert created.json()["price_per_hour"] == "2.990000"

    # then the worker launches it on the simulated cloud
    running = wait_until(
        lambda: (
            (r := _reservation(api_client, buyer.headers, reservation_id))["status"] == "running"
            and r
        ),
        what="the reservation to run",
    )
    assert running["connection"]["host"].endswith(".sim.invalid")
    started = backdate_running(reservation_id, seconds=RAN_SECONDS)

    # when the buyer terminates it
    asked = timezone.now().replace(microsecond=0)
    response = api_client.post(f"/api/v1/reservations/{reservation_id}/terminate/", **buyer.headers)
    assert response.status_code == 202, response.content
    wait_until(
        lambda: _reservation(api_client, buyer.headers, reservation_id)["status"] == "terminated",
        what="termination",
    )
    terminated = timezone.now()

    # then usage is metered and invoiced at exactly seconds x locked price
    line = wait_until(
        lambda: (
            InvoiceLine.objects.filter(reservation_id=reservation_id, component="compute")
            .select_related("invoice")
            .first()
        ),
        what="the invoice line",
    )
    reservation = Reservation.objects.get(pk=reservation_id)
    assert asked <= reservation.ended_at <= terminated  # ended on the worker's clock
    seconds = int((reservation.ended_at - started).total_seconds())
    assert line.seconds == seconds >= RAN_SECONDS  # and the few the termination took
    assert line.price_per_hour == Decimal("2.990000")
    cents = (Decimal(seconds) * Decimal("2.99") / 3600).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert line.amount == cents
    assert reservation.usage.count() >= 1

    # and the CSV export lists it
    export = api_client.get(f"/api/v1/invoices/{line.invoice_id}/csv/", **buyer.headers)
    assert export.status_code == 200
    rows = list(csv.DictReader(io.StringIO(export.content.decode())))
    # with the start-up time the provider bills, once: 120 s × 2.99/h = 0.0997
    assert {(r["reservation"], r["seconds"], r["amount"]) for r in rows} == {
        (str(reservation_id), str(seconds), str(line.amount)),
        (str(reservation_id), "120", "0.10"),
    }


def test_it_ends_failed_with_the_error_when_the_launch_fails(celery_worker_process, api_client):
    # given a simulated cloud that has no capacity at all
    buyer = make_org_with_key(role="buyer")
    _refresh_simulated_prices_through_worker()
    Provider.objects.filter(slug="simcloud").update(config={"failure_rate": 1.0})
    offer = _find_single_h100_offer(api_client, buyer.headers)
    available_before = offer["available"]

    # when the buyer reserves
    created = api_client.post(
        "/api/v1/reservations/",
        {"offer": offer["id"], "hours": "2"},
        format="json",
        **buyer.headers,
    )
    assert created.status_code == 201, created.content
    reservation_id = created.json()["id"]

    # then it ends failed, with the error and the attempt recorded, and the capacity returned
    failed = wait_until(
        lambda: (
            (r := _reservation(api_client, buyer.headers, reservation_id))["status"] == "failed"
            and r
        ),
        what="the reservation to fail",
    )
    assert "insufficient capacity" in failed["failure_reason"]
    assert [(a["outcome"], a["scope"]) for a in failed["attempts"]] == [("no_capacity", "zone")]
    assert [e["to_status"] for e in failed["events"]] == ["pending", "launching", "failed"]
    offer_after = api_client.get(f"/api/v1/offers/{offer['id']}/").json()
    assert offer_after["available"] == available_before
    assert not InvoiceLine.objects.filter(reservation_id=reservation_id).exists()
