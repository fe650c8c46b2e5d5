"""The provider side for real: an organization registers a provider with a webhook, lists
an offer, a buyer reserves it, the Celery worker process sends the signed launch request
to the provider's endpoint (a local HTTP server), the provider reports `running`, the buyer
terminates, the provider confirms, and the invoice line appears. PostgreSQL, Redis and the
worker are real; nothing is eager."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest

from billing.models import InvoiceLine
from brokers.tests.webhook_receiver import (  # noqa: F401 (fixtures)
    webhook_module_server_fixture,
    webhook_server_fixture,
)
from common.time import iso_z
from conftest import wait_until
from marketplace.models import Reservation
from marketplace.webhook_signing import verify_signature
from tests.factories import backdate_running, make_org_with_key

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

RAN_SECONDS = 100  # how long the instance has run when the provider reports it terminated

HOOK = "/hooks/gpumarket"
OFFER = {
    "sku": "acme.h100x1",
    "gpu": "H100 SXM5",
    "gpu_count": 1,
    "vcpus": 26,
    "memory_gb": 225,
    "disk_gb": 500,
    "region": "eu-central-1",
    "pricing": "on_demand",
    "price_per_hour": "2.400000",
    "available": 2,
}


def _register_provider(client, webhook_url) -> tuple[dict, dict]:
    """The owner registers a provider and issues a provider-role key: (provider, headers)."""
    owner = make_org_with_key(role="owner")
    provider = client.post(
        "/api/v1/providers/",
        {
            "org": owner.org.slug,
            "name": "Acme GPUs",
            "slug": "acme-gpus",
            "webhook_url": webhook_url,
        },
        format="json",
        **owner.headers,
    )
    assert provider.status_code == 201, provider.content
    key = client.post(
        "/api/v1/api-keys/",
        {"org": owner.org.slug, "name": "acme agent", "role": "provider"},
        format="json",
        **owner.headers,
    )
    assert key.status_code == 201, key.content
    return provider.json(), {"HTTP_AUTHORIZATION": f"Bearer {key.json()['key']}"}


def _deliveries(server) -> list[tuple[dict, str, bytes]]:
    return [
        (
            json.loads(request.get_data()),
            request.headers["X-GPUMarket-Signature"],
            request.get_data(),
        )
        for request, _ in server.log
    ]


def _reservation(client, headers, reservation_id) -> dict:
    return client.get(f"/api/v1/reservations/{reservation_id}/", **headers).json()


def test_it_runs_a_listed_offer_from_webhook_to_invoice(
    celery_worker_process, api_client, webhook_server
):
    # given a provider with a webhook endpoint, and its offer listed through the API
    webhook_server.expect_request(HOOK, method="POST").respond_with_data("ok")
    provider, seller = _register_provider(api_client, webhook_server.url_for(HOOK))
    listed = api_client.put(
        "/api/v1/provider/offers/", {"offers": [OFFER], "complete": True}, format="json", **seller
    )
    assert listed.json()["created"] == 1, listed.content
    offer = api_client.get("/api/v1/provider/offers/", **seller).json()["results"][0]

    # when a buyer reserves it
    buyer = make_org_with_key(role="buyer")
    created = api_client.post(
        "/api/v1/reservations/",
        {"offer": offer["id"], "hours": "1"},
        format="json",
        **buyer.headers,
    )
    assert created.status_code == 201, created.content
    reservation_id = created.json()["id"]

    # then the worker posts a signed launch request to the provider, and the buyer waits
    (launch_request, signature, body) = wait_until(
        lambda: _deliveries(webhook_server), what="the launch request webhook"
    )[0]
    assert verify_signature(provider["webhook_secret"], signature, body) > 0
    assert (launch_request["type"], launch_request["reservation"]) == ("launch", reservation_id)
    assert launch_request["offer"]["sku"] == "acme.h100x1"
    assert launch_request["events_url"] == f"/api/v1/provider/reservations/{reservation_id}/events/"
    polled = wait_until(
        lambda: [
            r
            for r in api_client.get("/api/v1/provider/launch-requests/", **seller).json()["results"]
            if r["status"] == "delivered"
        ],
        what="the request to show as delivered",
    )
    assert [r["id"] for r in polled] == [launch_request["id"]]
    assert _reservation(api_client, buyer.headers, reservation_id)["status"] == "launching"

    # when the provider reports the instance running
    connection = {"host": "gpu-1.acme.example", "port": 22, "user": "ubuntu"}
    started = api_client.post(
        launch_request["events_url"],
        {"id": "acme-ev-1", "type": "running", "connection": connection},
        format="json",
        **seller,
    )
    assert started.status_code == 200, started.content

    # then the buyer sees it running with the connection details
    running = _reservation(api_client, buyer.headers, reservation_id)
    assert (running["status"], running["connection"]) == ("running", connection)
    since = backdate_running(reservation_id, seconds=RAN_SECONDS)

    # when the buyer terminates it
    stop = api_client.post(f"/api/v1/reservations/{reservation_id}/terminate/", **buyer.headers)
    assert stop.status_code == 202, stop.content

    # then the provider is asked to stop it (signed too), and the reservation waits for it
    terminate_request, signature, body = wait_until(
        lambda: _deliveries(webhook_server)[1:], what="the terminate request webhook"
    )[0]
    assert verify_signature(provider["webhook_secret"], signature, body) > 0
    assert (terminate_request["type"], terminate_request["instance_ran"]) == ("terminate", True)
    assert _reservation(api_client, buyer.headers, reservation_id)["status"] == "terminating"

    # when the provider confirms, giving the time the instance stopped
    confirmed = api_client.post(
        launch_request["events_url"],
        {
            "id": "acme-ev-2",
            "type": "terminated",
            "at": iso_z(since + timedelta(seconds=RAN_SECONDS)),
        },
        format="json",
        **seller,
    )
    assert confirmed.json()["reservation"]["status"] == "terminated"

    # then the worker meters it and the invoice line bills exactly the running seconds
    line = wait_until(
        lambda: InvoiceLine.objects.filter(
            reservation_id=reservation_id, component="compute"
        ).first(),
        what="the invoice line",
    )
    assert (line.seconds, line.price_per_hour) == (RAN_SECONDS, Decimal("2.400000"))
    assert line.amount == Decimal("0.07")  # 100 s x 2.40/h = 0.0667
    reservation = Reservation.objects.get(pk=reservation_id)
    assert reservation.price_per_hour == reservation.offer.price_per_hour  # locked at 2.40
    assert len(_deliveries(webhook_server)) == 2
