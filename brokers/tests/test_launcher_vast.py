"""The Vast.ai launcher against a local server answering in Vast's wire format (samples
hand-written from the public API docs and CLI: samples/launchers/README.md)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from brokers.launchers import vast
from brokers.launchers.base import (
    CapacityError,
    InstanceState,
    LaunchSpec,
    PermanentLaunchError,
    TransientLaunchError,
)
from brokers.registry import get_launcher
from brokers.tests.provider_server import provider_server_fixture  # noqa: F401

SAMPLES = Path(__file__).parent / "samples" / "launchers" / "vast"
KEY = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
ASK_ID = "7512345"
INSTANCE_ID = "7835610"


def sample(name: str):
    return json.loads((SAMPLES / name).read_text())


@pytest.fixture
def vast_api(provider_server, settings):
    settings.VAST_API_URL = provider_server.url_for("/api/v0")
    settings.VAST_API_KEY = KEY
    provider_server.expect_request(
        "/api/v0/instances/", method="GET", query_string={"owner": "me"}
    ).respond_with_json(sample("instances_none.json"))
    return provider_server


def _spec(**changes) -> LaunchSpec:
    fields = {
        "reservation_id": 7,
        "provider": "vast",
        "sku": ASK_ID,
        "region": "Texas, US",
        "zone": "",
        "pricing": "on_demand",
        "units": 1,
        "idempotency_key": "reservation-7-attempt-1",
        "options": {"disk_gb": 64},
        "gpu_count": 1,
        "price_per_hour": Decimal("0.347200"),
    }
    return LaunchSpec(**(fields | changes))


def _requests(api) -> list[tuple[str, str]]:
    # the server is shared by the session: a slow answer to another test may land in its log
    return [(r.method, r.path) for r, _ in api.log if r.path.startswith("/api/v0/")]


def _rent_body(**changes) -> dict:
    return {
        "client_id": "me",
        "image": vast.DEFAULT_IMAGE,
        "disk": 64,
        "label": "reservation-7-attempt-1",
        "runtype": "ssh",
    } | changes


def test_it_rents_an_offer_and_follows_the_instance_until_destroyed(vast_api):
    # given Vast renting the machine, loading the image, then running it
    vast_api.expect_request(
        f"/api/v0/asks/{ASK_ID}/",
        method="PUT",
        json=_rent_body(),
        headers={"Authorization": f"Bearer {KEY}"},
    ).respond_with_json(sample("rent.json"))
    vast_api.expect_oneshot_request(f"/api/v0/instances/{INSTANCE_ID}/").respond_with_json(
        sample("instance_loading.json")
    )
    vast_api.expect_request(f"/api/v0/instances/{INSTANCE_ID}/", method="GET").respond_with_json(
        sample("instance_running.json")
    )
    vast_api.expect_request(f"/api/v0/instances/{INSTANCE_ID}/", method="DELETE").respond_with_json(
        sample("destroy.json")
    )
    launcher = get_launcher("vast")

    # when it launches, polls twice and terminates
    launched = launcher.launch(_spec())
    loading = launcher.poll(launched.instance_id)
    running = launcher.poll(launched.instance_id)
    ended = launcher.terminate(launched.instance_id)

    # then the new contract is the instance, and Vast's SSH proxy is how the buyer connects
    assert (launched.instance_id, launched.state) == (INSTANCE_ID, InstanceState.PENDING)
    assert (loading.state, loading.detail) == (InstanceState.PENDING, "loading")
    assert running.state == InstanceState.RUNNING
    assert running.connection == {"host": "ssh5.vast.ai", "port": 35610, "user": "root"}
    assert ended.state == InstanceState.TERMINATED
    assert _requests(vast_api) == [
        ("GET", "/api/v0/instances/"),
        ("PUT", f"/api/v0/asks/{ASK_ID}/"),
        ("GET", f"/api/v0/instances/{INSTANCE_ID}/"),
        ("GET", f"/api/v0/instances/{INSTANCE_ID}/"),
        ("DELETE", f"/api/v0/instances/{INSTANCE_ID}/"),
    ]


def test_it_bids_the_locked_price_for_an_interruptible_offer_and_reads_outbid_as_preempted(
    vast_api,
):
    vast_api.expect_request(
        f"/api/v0/asks/{ASK_ID}/", method="PUT", json=_rent_body(price=0.21)
    ).respond_with_json({"success": True, "new_contract": 7835611})
    vast_api.expect_request("/api/v0/instances/7835611/").respond_with_json(
        sample("instance_outbid.json")
    )
    launched = vast.VastLauncher().launch(_spec(pricing="spot", price_per_hour=Decimal("0.210000")))
    assert vast.VastLauncher().poll(launched.instance_id).state == InstanceState.PREEMPTED


def test_it_finds_the_instance_a_lost_attempt_rented(vast_api):
    vast_api.clear()
    running = sample("instance_running.json")["instances"]
    vast_api.expect_request("/api/v0/instances/").respond_with_json({"instances": [running]})
    status = vast.VastLauncher().launch(_spec())
    assert (status.instance_id, status.state) == (INSTANCE_ID, InstanceState.RUNNING)
    assert len(_requests(vast_api)) == 1  # no second rent


def test_it_reads_an_offer_already_taken_as_a_capacity_error_for_that_offer(vast_api):
    vast_api.expect_request(f"/api/v0/asks/{ASK_ID}/", method="PUT").respond_with_json(
        sample("no_such_ask.json"), status=400
    )
    with pytest.raises(CapacityError) as raised:
        vast.VastLauncher().launch(_spec())
    assert raised.value.scope == "offer"
    assert "no_such_ask" in str(raised.value)


@pytest.mark.parametrize(
    ("status", "error", "says"),
    [
        (401, PermanentLaunchError, "vast: credentials rejected"),
        (503, TransientLaunchError, "HTTP 503"),
    ],
)
def test_it_maps_http_failures_of_the_rent(vast_api, status, error, says):
    vast_api.expect_request(f"/api/v0/asks/{ASK_ID}/", method="PUT").respond_with_json(
        sample("unauthorized.json"), status=status
    )
    with pytest.raises(error) as raised:
        vast.VastLauncher().launch(_spec())
    assert says in str(raised.value)
    assert KEY not in str(raised.value)
    assert [method for method, _ in _requests(vast_api)].count("PUT") == 1


def test_it_refuses_offers_that_are_not_one_vast_machine(vast_api):
    with pytest.raises(PermanentLaunchError, match="one machine"):
        vast.VastLauncher().launch(_spec(units=2))
    assert _requests(vast_api) == []
