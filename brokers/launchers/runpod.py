"""RunPod: launch, poll and terminate pods through the GraphQL API
(https://graphql-spec.runpod.io/, endpoint https://api.runpod.io/graphql, key as a Bearer
header so that it never sits in a URL).

- On demand: `podFindAndDeployOnDemand(input: PodFindAndDeployOnDemandInput)`; spot:
  `podRentInterruptable(input: PodRentInterruptableInput)` with `bidPerGpu`.
- `pod(input: {podId})` -> desiredStatus RUNNING|EXITED|TERMINATED, `runtime` null while
  the container starts, then its ports; `podType` INTERRUPTABLE for spot pods, whose
  EXITED means RunPod took the machine back.
- `podTerminate(input: {podId})`.
- GraphQL answers errors with HTTP 200 and an `errors` list; "There are no longer any
  instances available with the requested specifications" (or "...does not have the
  resources...") means no capacity: in the offer's data centre when it names one, else for
  that GPU type in that cloud (secure or community), which says nothing of the other cloud.

RunPod takes no idempotency key: the pod is named after our attempt's key and looked up
among our pods (`myself { pods }`) before deploying. Offers map as the RunPod pricing
source lists them: sku = `<gpuTypeId>:<secure|community>[:<n>x]`, region = data centre id
or "" (RunPod picks). One pod carries all the reservation's GPUs (`gpuCount` = GPUs per
instance x units). Image and disk come from `Provider.config`.
"""

from __future__ import annotations

from django.conf import settings

from brokers.launchers._http import api_client, launch_errors
from brokers.launchers.base import (
    CapacityError,
    InstanceState,
    InstanceStatus,
    Launcher,
    LaunchSpec,
    PermanentLaunchError,
)

PROVIDER = "runpod"
DEFAULT_IMAGE = "runpod/pytorch:2.4.0-py3.11-cuda12.4.1-devel-ubuntu22.04"
NO_CAPACITY_MESSAGES = ("no longer any instances available", "does not have the resources")
POD_FIELDS = (
    "id name desiredStatus podType runtime { ports { ip isIpPublic privatePort publicPort type } }"
)
DEPLOY_ON_DEMAND = f"""mutation Deploy($input: PodFindAndDeployOnDemandInput!) {{
  podFindAndDeployOnDemand(input: $input) {{ {POD_FIELDS} }}
}}"""
RENT_INTERRUPTABLE = f"""mutation RentSpot($input: PodRentInterruptableInput!) {{
  podRentInterruptable(input: $input) {{ {POD_FIELDS} }}
}}"""
POD = f"query Pod($input: PodFilter!) {{ pod(input: $input) {{ {POD_FIELDS} }} }}"
MY_PODS = f"query MyPods {{ myself {{ pods {{ {POD_FIELDS} }} }} }}"
TERMINATE = "mutation Terminate($input: PodTerminateInput!) { podTerminate(input: $input) }"


class RunPodLauncher(Launcher):
    name = "runpod"
    credential_setting = "RUNPOD_API_KEY"

    def launch(self, spec: LaunchSpec) -> InstanceStatus:
        mine = self._graphql(MY_PODS)["myself"]["pods"]
        started = [pod for pod in mine if pod["name"] == spec.idempotency_key]
        if started:
            return _status_of(started[0])
        spot = spec.pricing == "spot"
        data = self._graphql(
            RENT_INTERRUPTABLE if spot else DEPLOY_ON_DEMAND,
            {"input": _pod_input(spec)},
            retry=False,
            no_capacity_scope="region" if spec.region else "offer",
        )
        return _status_of(data["podRentInterruptable" if spot else "podFindAndDeployOnDemand"])

    def poll(self, instance_id: str, *, options: dict | None = None) -> InstanceStatus:
        pod = self._graphql(POD, {"input": {"podId": instance_id}})["pod"]
        if pod is None:  # RunPod forgets terminated pods
            return InstanceStatus(instance_id=instance_id, state=InstanceState.TERMINATED)
        return _status_of(pod)

    def terminate(self, instance_id: str, *, options: dict | None = None) -> InstanceStatus:
        self._graphql(TERMINATE, {"input": {"podId": instance_id}})
        return InstanceStatus(instance_id=instance_id, state=InstanceState.TERMINATED)

    def _graphql(
        self, query: str, variables: dict | None = None, *, retry=True, no_capacity_scope=""
    ) -> dict:
        client = api_client(
            provider=PROVIDER,
            base_url="",  # the endpoint is the whole URL
            api_key=settings.RUNPOD_API_KEY,
            setting="RUNPOD_API_KEY",
        )
        body = {"query": query, "variables": variables or {}}
        with launch_errors(PROVIDER):
            answer = client.post_json(settings.RUNPOD_API_URL, json=body, retry=retry)
        errors = answer.get("errors") or []
        if errors:
            _raise_for(errors, no_capacity_scope)
        return answer["data"]


def _raise_for(errors: list[dict], no_capacity_scope: str) -> None:
    message = "; ".join(str(e.get("message", "")) for e in errors)[:500]
    if no_capacity_scope and any(m in message.lower() for m in NO_CAPACITY_MESSAGES):
        raise CapacityError(f"{PROVIDER}: no capacity ({message})", scope=no_capacity_scope)
    raise PermanentLaunchError(f"{PROVIDER}: {message}")


def _pod_input(spec: LaunchSpec) -> dict:
    options = spec.options
    gpu_type, _, rest = spec.sku.partition(":")
    cloud = rest.partition(":")[0].upper() or options.get("cloud_type", "ALL")
    gpus = max(spec.gpu_count, 1) * spec.units
    pod = {
        "name": spec.idempotency_key,
        "gpuTypeId": gpu_type,
        "gpuCount": gpus,
        "cloudType": cloud,
        "imageName": options.get("image", DEFAULT_IMAGE),
        "containerDiskInGb": int(options.get("container_disk_gb", 50)),
        "volumeInGb": int(options.get("volume_gb", 0)),
        "ports": "22/tcp",
        "startSsh": True,
    }
    if spec.region:
        pod["dataCenterId"] = spec.region
    if spec.pricing == "spot" and spec.price_per_hour is not None:
        # GraphQL takes a Float: the bid is our locked price per GPU, rounded to the
        # micro-dollar, converted at this boundary only.
        pod["bidPerGpu"] = float(round(spec.price_per_hour * spec.units / gpus, 6))
    return pod


def _status_of(pod: dict) -> InstanceStatus:
    desired, runtime = pod.get("desiredStatus"), pod.get("runtime")
    connection = {}
    if desired == "RUNNING" and runtime:
        state = InstanceState.RUNNING
        ssh = next(
            (p for p in runtime.get("ports") or [] if p["privatePort"] == 22 and p["isIpPublic"]),
            None,
        )
        if ssh:
            connection = {"host": ssh["ip"], "port": ssh["publicPort"], "user": "root"}
    elif desired in ("RUNNING", "CREATED"):
        state = InstanceState.PENDING
    elif desired == "EXITED" and pod.get("podType") == "INTERRUPTABLE":
        state = InstanceState.PREEMPTED
    else:
        state = InstanceState.TERMINATED
    return InstanceStatus(
        instance_id=pod["id"], state=state, connection=connection, detail=desired or ""
    )
