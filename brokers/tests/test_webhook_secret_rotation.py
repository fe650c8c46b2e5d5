"""Deliveries during and after a webhook secret's rotation (a real local HTTP server): signed
by both secrets while the overlap lasts, by the new one only after it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from brokers.launchers import listed
from brokers.services import launch
from brokers.tests.webhook_receiver import (  # noqa: F401 (fixtures)
    webhook_module_server_fixture,
    webhook_server_fixture,
)
from marketplace.models import LaunchRequest
from marketplace.services.providers import provider_webhook_secret_rotate
from marketplace.tests.provider_fixtures import make_listed_offer, make_listed_provider, reserve
from marketplace.webhook_signing import InvalidSignature, verify_signature

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OVERLAP = timedelta(minutes=10)


def delivered_signature(webhook_server, offer) -> tuple[str, bytes]:
    """A new launch request for the offer, delivered now: its signature header and body."""
    reservation = reserve(offer)
    launch.launch_reservation(reservation_id=reservation.pk)
    request = LaunchRequest.objects.get(reservation=reservation)
    webhook_server.clear()
    webhook_server.expect_request("/hooks/gpumarket", method="POST").respond_with_data("ok")
    assert listed.deliver(launch_request_id=request.pk) is True
    ((received, _),) = webhook_server.log
    return received.headers["X-GPUMarket-Signature"], received.get_data()


def test_deliveries_carry_both_signatures_until_the_overlap_ends(webhook_server):
    # given a provider receiving webhooks, whose secret is rotated at T0 with a 10 min overlap
    seller = make_listed_provider(webhook_url=webhook_server.url_for("/hooks/gpumarket"))
    offer = make_listed_offer(seller.provider)
    old = seller.provider.webhook_secret
    with time_machine.travel(T0):
        new = provider_webhook_secret_rotate(provider=seller.provider, overlap=OVERLAP)
    new = new.webhook_secret

    # when a request is delivered just before the overlap ends
    with time_machine.travel(T0 + OVERLAP - timedelta(seconds=2)):
        header, body = delivered_signature(webhook_server, offer)
        # then it carries two signatures, and a verifier with either secret accepts it
        assert header.count("v1=") == 2
        assert verify_signature(new, header, body) > 0
        assert verify_signature(old, header, body) > 0

    # when one is delivered once the overlap has ended
    with time_machine.travel(T0 + OVERLAP + timedelta(seconds=1)):
        header, body = delivered_signature(webhook_server, offer)
        # then only the new secret signs it
        assert header.count("v1=") == 1
        assert verify_signature(new, header, body) > 0
        with pytest.raises(InvalidSignature, match="does not match"):
            verify_signature(old, header, body)


def test_without_overlap_the_old_secret_stops_at_once(webhook_server):
    seller = make_listed_provider(webhook_url=webhook_server.url_for("/hooks/gpumarket"))
    old = seller.provider.webhook_secret

    new = provider_webhook_secret_rotate(provider=seller.provider, overlap=timedelta(0))
    header, body = delivered_signature(webhook_server, make_listed_offer(seller.provider))

    assert header.count("v1=") == 1
    assert verify_signature(new.webhook_secret, header, body) > 0
    with pytest.raises(InvalidSignature):
        verify_signature(old, header, body)
