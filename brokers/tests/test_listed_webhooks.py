"""Launch requests delivered to a provider's webhook (a real local HTTP server): signed
with the provider's secret, retried with backoff on transient failures only."""

from __future__ import annotations

import json

import pytest
from werkzeug import Response

from brokers.http import PermanentHttpError, TransientHttpError
from brokers.launchers import listed
from brokers.services import launch
from brokers.tasks import deliver_launch_request
from brokers.tests.webhook_receiver import (  # noqa: F401 (fixtures)
    webhook_module_server_fixture,
    webhook_server_fixture,
)
from marketplace.models import LaunchRequest
from marketplace.selectors.providers import launch_request_document
from marketplace.tests.provider_fixtures import make_listed_offer, make_listed_provider, reserve
from marketplace.webhook_signing import InvalidSignature, verify_signature

pytestmark = pytest.mark.django_db


@pytest.fixture
def launch_request(webhook_server):
    seller = make_listed_provider(webhook_url=webhook_server.url_for("/hooks/gpumarket"))
    reservation = reserve(make_listed_offer(seller.provider))
    launch.launch_reservation(reservation_id=reservation.pk)
    return LaunchRequest.objects.select_related("provider").get()


def received(webhook_server) -> list:
    return [request for request, _ in webhook_server.log]


def test_it_posts_the_request_signed_with_the_providers_secret(webhook_server, launch_request):
    # given a provider endpoint that answers 200 with a plain-text body
    webhook_server.expect_request("/hooks/gpumarket", method="POST").respond_with_data("ok")

    # when the request is delivered
    assert listed.deliver(launch_request_id=launch_request.pk) is True

    # then the provider got the launch request document, verifiably signed
    (request,) = received(webhook_server)
    body = request.get_data()
    assert json.loads(body) == launch_request_document(launch_request)
    assert json.loads(body)["type"] == "launch"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-GPUMarket-Delivery"] == str(launch_request.pk)
    assert request.headers["X-GPUMarket-Event"] == "launch_request"
    header = request.headers["X-GPUMarket-Signature"]
    assert verify_signature(launch_request.provider.webhook_secret, header, body) > 0
    with pytest.raises(InvalidSignature):
        verify_signature("someone-elses-secret", header, body)
    launch_request.refresh_from_db()
    assert (launch_request.status, launch_request.delivery_attempts) == ("delivered", 1)
    assert launch_request.delivered_at is not None

    # and a second delivery (a redelivered task) sends nothing more
    assert listed.deliver(launch_request_id=launch_request.pk) is False
    assert len(received(webhook_server)) == 1


def test_it_retries_transient_failures_with_backoff_until_delivered(
    webhook_server, launch_request, monkeypatch
):
    # given an endpoint that is down twice (503, 502), then up
    for status in (503, 502):
        webhook_server.expect_ordered_request("/hooks/gpumarket").respond_with_data(
            "down", status=status
        )
    webhook_server.expect_ordered_request("/hooks/gpumarket").respond_with_json({"ok": True})
    countdowns = []
    original_retry = deliver_launch_request.retry

    def recording_retry(*args, **kwargs):
        countdowns.append(kwargs.get("countdown"))
        return original_retry(*args, **kwargs)

    monkeypatch.setattr(deliver_launch_request, "retry", recording_retry)

    # when the task runs (eagerly: each retry runs at once)
    deliver_launch_request.apply(args=[launch_request.pk])

    # then it was tried three times with a growing backoff, and delivered
    assert len(received(webhook_server)) == 3
    assert countdowns == [5, 10]
    launch_request.refresh_from_db()
    assert (launch_request.status, launch_request.delivery_attempts) == ("delivered", 3)
    assert launch_request.last_error == ""
    # every attempt was signed afresh
    signatures = {r.headers["X-GPUMarket-Signature"] for r in received(webhook_server)}
    assert all(s.startswith("t=") for s in signatures)


def test_it_gives_up_after_the_last_retry_and_leaves_the_request_to_polling(
    webhook_server, launch_request, monkeypatch
):
    webhook_server.expect_request("/hooks/gpumarket").respond_with_data("down", status=503)
    monkeypatch.setattr(deliver_launch_request, "max_retries", 2)

    deliver_launch_request.apply(args=[launch_request.pk])

    assert len(received(webhook_server)) == 3
    launch_request.refresh_from_db()
    assert (launch_request.status, launch_request.delivery_attempts) == ("pending", 3)
    assert launch_request.last_error.startswith("webhook delivery gave up: POST ")
    assert "HTTP 503" in launch_request.last_error


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (Response("no such hook", status=404), PermanentHttpError),
        (Response("", status=302, headers={"Location": "/elsewhere"}), PermanentHttpError),
        (Response("busy", status=429), TransientHttpError),
        (Response("oops", status=500), TransientHttpError),
    ],
)
def test_it_records_failed_deliveries_by_kind(webhook_server, launch_request, response, error):
    webhook_server.expect_request("/hooks/gpumarket").respond_with_response(response)
    with pytest.raises(error):
        listed.deliver(launch_request_id=launch_request.pk)
    launch_request.refresh_from_db()
    assert (launch_request.status, launch_request.delivery_attempts) == ("pending", 1)
    assert str(response.status_code) in launch_request.last_error


def test_it_does_not_retry_a_4xx(webhook_server, launch_request):
    webhook_server.expect_request("/hooks/gpumarket").respond_with_data("gone", status=410)
    deliver_launch_request.apply(args=[launch_request.pk])
    assert len(received(webhook_server)) == 1


def test_it_treats_an_unreachable_endpoint_as_transient(launch_request):
    # a port nobody listens on: the connection is refused at once
    launch_request.provider.webhook_url = "http://127.0.0.1:9/hooks"
    launch_request.provider.save()
    with pytest.raises(TransientHttpError, match="connection failed"):
        listed.deliver(launch_request_id=launch_request.pk)
