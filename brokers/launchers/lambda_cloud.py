"""Lambda Cloud: launch, poll and terminate through the Cloud API v1
(https://cloud.lambda.ai/api/v1/docs; the old cloud.lambdalabs.com host redirects there).

- `POST instance-operations/launch` {region_name, instance_type_name, ssh_key_names,
  quantity, name} -> {"data": {"instance_ids": [...]}}. Lambda takes no idempotency key, so
  the instance is named after our attempt's key and looked up by name (`GET instances`)
  before launching: a retried task finds what the first one started.
- `GET instances/<id>` -> {"data": {... "status": booting|active|unhealthy|terminating|
  terminated|preempted, "ip"}}.
- `POST instance-operations/terminate` {instance_ids}.
- Errors are {"error": {"code", "message", "suggestion"}}; no capacity is HTTP 400 with
  `instance-operations/launch/insufficient-capacity` (capacity is per instance type and
  region: Lambda has no zones, so the scope is the region).

Offers map as sku = instance type name (`gpu_1x_h100_pcie`), region = region name. The SSH
keys to install come from `Provider.config["ssh_key_names"]` (names registered at Lambda).
One reservation unit is one instance; several units are launched with `quantity` and
tracked as one comma-separated instance id.
"""

from __future__ import annotations

from django.conf import settings

from brokers.http import HttpError
from brokers.launchers._http import api_client, launch_errors, unless_gone
from brokers.launchers.base import InstanceState, InstanceStatus, Launcher, LaunchSpec

PROVIDER = "lambda"
INSUFFICIENT_CAPACITY = "instance-operations/launch/insufficient-capacity"
_STATES = {
    "booting": InstanceState.PENDING,
    "active": InstanceState.RUNNING,
    "unhealthy": InstanceState.RUNNING,  # up and billed; Lambda restarts or the buyer does
    "terminating": InstanceState.TERMINATED,
    "terminated": InstanceState.TERMINATED,
    "preempted": InstanceState.PREEMPTED,
}
# When instances of one reservation disagree, the worst state wins.
_PRECEDENCE = [
    InstanceState.FAILED,
    InstanceState.PREEMPTED,
    InstanceState.TERMINATED,
    InstanceState.PENDING,
    InstanceState.RUNNING,
]


def _capacity_scope(exc: HttpError) -> str | None:
    return "region" if INSUFFICIENT_CAPACITY in exc.body_excerpt else None


class LambdaLauncher(Launcher):
    name = "lambda"
    credential_setting = "LAMBDA_API_KEY"

    def launch(self, spec: LaunchSpec) -> InstanceStatus:
        client = self._client()
        with launch_errors(PROVIDER):
            started = [
                i for i in client.get_json("instances")["data"] if i["name"] == spec.idempotency_key
            ]
        if started:
            return _status_of(started)
        body = {
            "region_name": spec.region,
            "instance_type_name": spec.sku,
            "ssh_key_names": list(spec.options.get("ssh_key_names", [])),
            "quantity": spec.units,
            "name": spec.idempotency_key,
        }
        with launch_errors(PROVIDER, capacity_scope=_capacity_scope):
            answer = client.post_json("instance-operations/launch", json=body, retry=False)
        ids = answer["data"]["instance_ids"]
        return InstanceStatus(instance_id=",".join(ids), state=InstanceState.PENDING)

    def poll(self, instance_id: str, *, options: dict | None = None) -> InstanceStatus:
        client = self._client()
        instances = []
        for one_id in instance_id.split(","):
            with launch_errors(PROVIDER):
                found = unless_gone(lambda one_id=one_id: client.get_json(f"instances/{one_id}"))
            instances.append(found["data"] if found else {"id": one_id, "status": "terminated"})
        return _status_of(instances)

    def terminate(self, instance_id: str, *, options: dict | None = None) -> InstanceStatus:
        body = {"instance_ids": instance_id.split(",")}
        client = self._client()
        with launch_errors(PROVIDER):  # 404: already gone, which is what we want
            unless_gone(lambda: client.post_json("instance-operations/terminate", json=body))
        return InstanceStatus(instance_id=instance_id, state=InstanceState.TERMINATED)

    @staticmethod
    def _client():
        return api_client(
            provider=PROVIDER,
            base_url=settings.LAMBDA_API_URL,
            api_key=settings.LAMBDA_API_KEY,
            setting="LAMBDA_API_KEY",
        )


def _status_of(instances: list[dict]) -> InstanceStatus:
    states = {_STATES.get(i.get("status", ""), InstanceState.PENDING) for i in instances}
    state = next(s for s in _PRECEDENCE if s in states)
    connection = {}
    if state == InstanceState.RUNNING:
        hosts = [i["ip"] for i in instances]
        connection = {"host": hosts[0], "port": 22, "user": "ubuntu"}
        if len(hosts) > 1:
            connection["hosts"] = hosts
        if instances[0].get("jupyter_url"):
            connection["jupyter_url"] = instances[0]["jupyter_url"]
    return InstanceStatus(
        instance_id=",".join(i["id"] for i in instances),
        state=state,
        connection=connection,
        detail=", ".join(sorted({i.get("status", "") for i in instances})),
    )
