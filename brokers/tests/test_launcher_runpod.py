"""The RunPod launcher against a local GraphQL endpoint answering in RunPod's wire format
(samples hand-written from the public API docs: samples/launchers/README.md)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from brokers.launchers import runpod
from brokers.launchers.base import (
    CapacityError,
    InstanceState,
    LaunchSpec,
    PermanentLaunchError,
    TransientLaunchError,
)
from brokers.registry import get_launcher
from brokers.tests.provider_server import provider_server_fixture  # noqa: F401

SAMPLES = Path(__file__).parent / "samples" / "launchers" / "runpod"
KEY = "rpa_TESTKEY0123456789ABCDEFGHIJ"
POD_ID = "x7k2m9q4w1ab3c"


def sample(name: str):
    return json.loads((SAMPLES / name).read_text())


@pytest.fixture
def runpod_api(provider_server, settings):
    settings.RUNPOD_API_URL = provider_server.url_for("/graphql")
    settings.RUNPOD_API_KEY = KEY
    return provider_server


def _spec(**changes) -> LaunchSpec:
    fields = {
        "reservation_id": 7,
        "provider": "runpod",
        "sku": "NVIDIA H100 80GB HBM3:secure:8x",
        "region": "",
        "zone": "",
        "pricing": "on_demand",
        "units": 1,
        "idempotency_key": "reservation-7-attempt-1",
        "options": {"container_disk_gb": 100},
        "gpu_count": 8,
        "price_per_hour": Decimal("21.520000"),
    }
    return LaunchSpec(**(fields | changes))


def _expect(api, query: str, variables: dict, answer: dict, status: int = 200) -> None:
    api.expect_request(
        "/graphql",
        method="POST",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {KEY}"},
    ).respond_with_json(answer, status=status)


def _calls(api) -> int:
    # the server is shared by the session: a slow answer to another test may land in its log
    return sum(1 for request, _ in api.log if request.path == "/graphql")


def _no_pods_yet(api) -> None:
    _expect(api, runpod.MY_PODS, {}, sample("my_pods_none.json"))


def _pod_input(**changes) -> dict:
    return {
        "name": "reservation-7-attempt-1",
        "gpuTypeId": "NVIDIA H100 80GB HBM3",
        "gpuCount": 8,
        "cloudType": "SECURE",
        "imageName": runpod.DEFAULT_IMAGE,
        "containerDiskInGb": 100,
        "volumeInGb": 0,
        "ports": "22/tcp",
        "startSsh": True,
    } | changes


def test_it_deploys_an_on_demand_pod_and_reads_its_ssh_port(runpod_api):
    # given RunPod deploying a secure-cloud pod of 8 H100s, which then runs
    _no_pods_yet(runpod_api)
    _expect(runpod_api, runpod.DEPLOY_ON_DEMAND, {"input": _pod_input()}, sample("deploy.json"))
    _expect(runpod_api, runpod.POD, {"input": {"podId": POD_ID}}, sample("pod_running.json"))
    _expect(runpod_api, runpod.TERMINATE, {"input": {"podId": POD_ID}}, sample("terminate.json"))
    launcher = get_launcher("runpod")

    # when it launches, polls and terminates
    launched = launcher.launch(_spec())
    running = launcher.poll(POD_ID)
    ended = launcher.terminate(POD_ID)

    # then the pod boots (no runtime yet), runs with its public SSH port, and ends
    assert (launched.instance_id, launched.state) == (POD_ID, InstanceState.PENDING)
    assert running.state == InstanceState.RUNNING
    assert running.connection == {"host": "203.0.113.45", "port": 40122, "user": "root"}
    assert ended.state == InstanceState.TERMINATED
    assert _calls(runpod_api) == 4


def test_it_rents_a_spot_pod_bidding_the_locked_price_per_gpu(runpod_api):
    # given a spot offer of 1 GPU in the community cloud, locked at 1.49/h
    _no_pods_yet(runpod_api)
    spot = _spec(
        sku="NVIDIA H100 80GB HBM3:community",
        pricing="spot",
        gpu_count=1,
        price_per_hour=Decimal("1.490000"),
    )
    expected = _pod_input(gpuCount=1, cloudType="COMMUNITY", bidPerGpu=1.49)
    _expect(
        runpod_api,
        runpod.RENT_INTERRUPTABLE,
        {"input": expected},
        sample("rent_interruptable.json"),
    )
    _expect(
        runpod_api,
        runpod.POD,
        {"input": {"podId": "s9p0t1a2b3c4d5"}},
        sample("pod_exited_interruptable.json"),
    )

    # when it launches, and later the pod is taken back
    launched = runpod.RunPodLauncher().launch(spot)
    later = runpod.RunPodLauncher().poll(launched.instance_id)

    # then it was rented with our bid, and its exit reads as a preemption
    assert (launched.instance_id, launched.state) == ("s9p0t1a2b3c4d5", InstanceState.PENDING)
    assert later.state == InstanceState.PREEMPTED


def test_it_finds_the_pod_a_lost_attempt_deployed(runpod_api):
    pod = sample("pod_running.json")["data"]["pod"]
    _expect(runpod_api, runpod.MY_PODS, {}, {"data": {"myself": {"pods": [pod]}}})
    status = runpod.RunPodLauncher().launch(_spec())
    assert (status.instance_id, status.state) == (POD_ID, InstanceState.RUNNING)
    assert _calls(runpod_api) == 1  # no second deploy


def test_it_reads_no_instances_available_as_a_capacity_error(runpod_api):
    _no_pods_yet(runpod_api)
    _expect(
        runpod_api, runpod.DEPLOY_ON_DEMAND, {"input": _pod_input()}, sample("no_capacity.json")
    )
    with pytest.raises(CapacityError) as raised:
        runpod.RunPodLauncher().launch(_spec())
    assert raised.value.scope == "offer"  # RunPod picked the data centre: this type and cloud
    assert "no longer any instances available" in str(raised.value)


def test_it_scopes_no_capacity_to_the_data_centre_it_asked_for(runpod_api):
    _no_pods_yet(runpod_api)
    _expect(
        runpod_api,
        runpod.DEPLOY_ON_DEMAND,
        {"input": _pod_input(dataCenterId="EU-RO-1")},
        sample("no_capacity.json"),
    )
    with pytest.raises(CapacityError) as raised:
        runpod.RunPodLauncher().launch(_spec(region="EU-RO-1"))
    assert raised.value.scope == "region"


@pytest.mark.parametrize(
    ("status", "error", "says"),
    [
        (401, PermanentLaunchError, "runpod: credentials rejected"),
        (503, TransientLaunchError, "HTTP 503"),
    ],
)
def test_it_maps_http_failures_of_the_deploy(runpod_api, status, error, says):
    # given RunPod failing the deploy itself (a mutation: sent once, never repeated)
    _no_pods_yet(runpod_api)
    runpod_api.expect_request("/graphql").respond_with_json(sample("unauthorized.json"), status)
    with pytest.raises(error) as raised:
        runpod.RunPodLauncher().launch(_spec())
    assert says in str(raised.value)
    assert KEY not in str(raised.value)
    assert _calls(runpod_api) == 2


def test_it_reads_a_forgotten_pod_as_terminated(runpod_api):
    _expect(runpod_api, runpod.POD, {"input": {"podId": POD_ID}}, sample("pod_gone.json"))
    assert runpod.RunPodLauncher().poll(POD_ID).state == InstanceState.TERMINATED
