"""The Lambda Cloud launcher against a local server answering in Lambda's wire format
(samples hand-written from the public API docs: samples/launchers/README.md)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from brokers.launchers.base import (
    CapacityError,
    InstanceState,
    LaunchSpec,
    PermanentLaunchError,
    TransientLaunchError,
)
from brokers.launchers.lambda_cloud import LambdaLauncher
from brokers.registry import get_launcher
from brokers.tests.provider_server import provider_server_fixture  # noqa: F401

SAMPLES = Path(__file__).parent / "samples" / "launchers" / "lambda"
KEY = "secret_gpumarket_0123456789abcdef"
INSTANCE_ID = "0920582c7ff041399e34823a0be62549"
LAUNCH_BODY = {
    "region_name": "us-east-1",
    "instance_type_name": "gpu_1x_h100_pcie",
    "ssh_key_names": ["gpu-market"],
    "quantity": 1,
    "name": "reservation-7-attempt-1",
}


def sample(name: str):
    return json.loads((SAMPLES / name).read_text())


@pytest.fixture
def lambda_api(provider_server, settings):
    settings.LAMBDA_API_URL = provider_server.url_for("/api/v1/")
    settings.LAMBDA_API_KEY = KEY
    return provider_server


def _spec() -> LaunchSpec:
    return LaunchSpec(
        reservation_id=7,
        provider="lambda",
        sku="gpu_1x_h100_pcie",
        region="us-east-1",
        zone="",
        pricing="on_demand",
        units=1,
        idempotency_key="reservation-7-attempt-1",
        options={"ssh_key_names": ["gpu-market"]},
        gpu_count=1,
    )


def _no_instances_yet(api) -> None:
    api.expect_request("/api/v1/instances", method="GET").respond_with_json(
        sample("instances_none.json")
    )


def _requests(api) -> list[tuple[str, str]]:
    # the server is shared by the session: a slow answer to another test may land in its log
    return [(r.method, r.path) for r, _ in api.log if r.path.startswith("/api/v1/")]


def test_it_launches_polls_and_terminates_an_instance(lambda_api):
    # given Lambda accepting the launch, booting the instance, then running it
    bearer = {"Authorization": f"Bearer {KEY}"}
    _no_instances_yet(lambda_api)
    lambda_api.expect_request(
        "/api/v1/instance-operations/launch", method="POST", json=LAUNCH_BODY, headers=bearer
    ).respond_with_json(sample("launch.json"))
    lambda_api.expect_oneshot_request(f"/api/v1/instances/{INSTANCE_ID}").respond_with_json(
        sample("instance_booting.json")
    )
    lambda_api.expect_request(f"/api/v1/instances/{INSTANCE_ID}").respond_with_json(
        sample("instance_active.json")
    )
    lambda_api.expect_request(
        "/api/v1/instance-operations/terminate", method="POST", json={"instance_ids": [INSTANCE_ID]}
    ).respond_with_json(sample("terminate.json"))
    launcher = get_launcher("lambda")

    # when it launches, polls twice and terminates
    launched = launcher.launch(_spec())
    booting = launcher.poll(launched.instance_id)
    running = launcher.poll(launched.instance_id)
    ended = launcher.terminate(launched.instance_id)

    # then each answer is read for what it says
    assert (launched.instance_id, launched.state) == (INSTANCE_ID, InstanceState.PENDING)
    assert (booting.state, booting.connection) == (InstanceState.PENDING, {})
    assert running.state == InstanceState.RUNNING
    assert running.connection == {
        "host": "198.51.100.2",
        "port": 22,
        "user": "ubuntu",
        "jupyter_url": sample("instance_active.json")["data"]["jupyter_url"],
    }
    assert ended.state == InstanceState.TERMINATED
    assert _requests(lambda_api) == [
        ("GET", "/api/v1/instances"),
        ("POST", "/api/v1/instance-operations/launch"),
        ("GET", f"/api/v1/instances/{INSTANCE_ID}"),
        ("GET", f"/api/v1/instances/{INSTANCE_ID}"),
        ("POST", "/api/v1/instance-operations/terminate"),
    ]


def test_it_finds_the_instance_a_lost_attempt_started_instead_of_launching_again(lambda_api):
    # given an instance already named after this attempt (the first try's worker died)
    lambda_api.expect_request("/api/v1/instances").respond_with_json(
        {"data": [sample("instance_active.json")["data"]]}
    )

    # when the attempt is retried
    status = LambdaLauncher().launch(_spec())

    # then it is that instance, and no second launch is sent
    assert (status.instance_id, status.state) == (INSTANCE_ID, InstanceState.RUNNING)
    assert _requests(lambda_api) == [("GET", "/api/v1/instances")]


def test_it_reads_insufficient_capacity_as_a_capacity_error_for_the_region(lambda_api):
    _no_instances_yet(lambda_api)
    lambda_api.expect_request("/api/v1/instance-operations/launch").respond_with_json(
        sample("insufficient_capacity.json"), status=400
    )
    with pytest.raises(CapacityError) as raised:
        LambdaLauncher().launch(_spec())
    assert raised.value.scope == "region"
    assert "insufficient-capacity" in str(raised.value)


def test_it_reads_a_rejected_key_as_permanent_and_never_shows_the_key(lambda_api, caplog):
    caplog.set_level(logging.DEBUG)
    lambda_api.expect_request("/api/v1/instances").respond_with_json(
        sample("invalid_api_key.json"), status=401
    )
    with pytest.raises(PermanentLaunchError) as raised:
        LambdaLauncher().launch(_spec())
    assert str(raised.value).startswith("lambda: credentials rejected")
    assert "global/invalid-api-key" in str(raised.value)
    assert KEY not in str(raised.value)
    assert KEY not in caplog.text


def test_it_reads_a_503_on_launch_as_transient_without_repeating_the_launch(lambda_api):
    _no_instances_yet(lambda_api)
    lambda_api.expect_request("/api/v1/instance-operations/launch").respond_with_json(
        sample("unavailable.json"), status=503
    )
    with pytest.raises(TransientLaunchError) as raised:
        LambdaLauncher().launch(_spec())
    assert "HTTP 503" in str(raised.value)
    assert _requests(lambda_api).count(("POST", "/api/v1/instance-operations/launch")) == 1


def test_it_reads_a_missing_instance_as_terminated(lambda_api):
    lambda_api.expect_request(f"/api/v1/instances/{INSTANCE_ID}").respond_with_json(
        sample("not_found.json"), status=404
    )
    lambda_api.expect_request("/api/v1/instance-operations/terminate").respond_with_json(
        sample("not_found.json"), status=404
    )
    assert LambdaLauncher().poll(INSTANCE_ID).state == InstanceState.TERMINATED
    assert LambdaLauncher().terminate(INSTANCE_ID).state == InstanceState.TERMINATED


def test_it_refuses_to_launch_without_a_key(lambda_api, settings):
    settings.LAMBDA_API_KEY = ""
    with pytest.raises(PermanentLaunchError, match="set LAMBDA_API_KEY"):
        LambdaLauncher().launch(_spec())
    assert _requests(lambda_api) == []
