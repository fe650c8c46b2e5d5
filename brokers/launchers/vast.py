"""Vast.ai: rent, poll and destroy instances through the REST API v0
(https://docs.vast.ai/api, the endpoints the official `vastai` CLI calls).

- `PUT asks/<offer id>/` {client_id: "me", image, disk, label, runtype, price (the bid, for
  interruptible)} -> {"success": true, "new_contract": <instance id>}.
- `GET instances/<id>/` -> {"instances": {... actual_status loading|running|exited|offline,
  intended_status, is_bid, ssh_host, ssh_port}}; `GET instances/` lists ours.
- `DELETE instances/<id>/`.
- An offer (an "ask") is one machine: once rented it answers `no_such_ask` (HTTP 400, 404
  or 410: the CLI and users report each), which says nothing of other machines, so the
  capacity error's scope is that offer alone.

Vast takes no idempotency key: the instance is labelled with our attempt's key and looked
up among our instances before renting. Offers map as sku = Vast offer id, one machine per
unit (a reservation rents one). Image and disk come from `Provider.config`.
"""

from __future__ import annotations

from django.conf import settings

from brokers.http import HttpError
from brokers.launchers._http import api_client, launch_errors, unless_gone
from brokers.launchers.base import (
    CapacityError,
    InstanceState,
    InstanceStatus,
    Launcher,
    LaunchSpec,
    PermanentLaunchError,
)

PROVIDER = "vast"
DEFAULT_IMAGE = "pytorch/pytorch:2.4.0-cuda12.4-cudnn9-runtime"
NO_CAPACITY = "no_such_ask"
_RUNNING, _ENDED = {"running"}, {"exited", "offline", "stopped"}


def _capacity_scope(exc: HttpError) -> str | None:
    gone = NO_CAPACITY in exc.body_excerpt or exc.status in (404, 410)
    return "offer" if gone else None


class VastLauncher(Launcher):
    name = "vast"
    credential_setting = "VAST_API_KEY"

    def launch(self, spec: LaunchSpec) -> InstanceStatus:
        if not spec.sku.isdigit() or spec.units != 1:
            raise PermanentLaunchError(
                f"{PROVIDER}: an offer is one machine with a numeric id; got {spec.sku!r} x {spec.units}",
            )
        client = self._client()
        with launch_errors(PROVIDER):
            mine = client.get_json("instances/", {"owner": "me"}).get("instances") or []
        started = [i for i in mine if i.get("label") == spec.idempotency_key]
        if started:
            return _status_of(started[0])
        with launch_errors(PROVIDER, capacity_scope=_capacity_scope):
            answer = client.put_json(f"asks/{spec.sku}/", json=_rent_body(spec), retry=False)
        if not answer.get("success") or not answer.get("new_contract"):
            _raise_for(answer)
        return InstanceStatus(instance_id=str(answer["new_contract"]), state=InstanceState.PENDING)

    def poll(self, instance_id: str, *, options: dict | None = None) -> InstanceStatus:
        client = self._client()
        with launch_errors(PROVIDER):
            answer = unless_gone(lambda: client.get_json(f"instances/{instance_id}/"))
        instance = (answer or {}).get("instances")
        if not instance:
            return InstanceStatus(instance_id=instance_id, state=InstanceState.TERMINATED)
        return _status_of(instance)

    def terminate(self, instance_id: str, *, options: dict | None = None) -> InstanceStatus:
        client = self._client()
        with launch_errors(PROVIDER):  # 404: already destroyed
            unless_gone(lambda: client.delete(f"instances/{instance_id}/"))
        return InstanceStatus(instance_id=instance_id, state=InstanceState.TERMINATED)

    @staticmethod
    def _client():
        return api_client(
            provider=PROVIDER,
            base_url=settings.VAST_API_URL,
            api_key=settings.VAST_API_KEY,
            setting="VAST_API_KEY",
        )


def _rent_body(spec: LaunchSpec) -> dict:
    body = {
        "client_id": "me",
        "image": spec.options.get("image", DEFAULT_IMAGE),
        "disk": int(spec.options.get("disk_gb", 32)),
        "label": spec.idempotency_key,
        "runtype": "ssh",
    }
    if spec.pricing == "spot" and spec.price_per_hour is not None:
        # The bid in $/h for the machine: our locked price, a float at this boundary only.
        body["price"] = float(round(spec.price_per_hour, 6))
    return body


def _raise_for(answer: dict) -> None:
    error, message = answer.get("error", ""), answer.get("msg", "")
    if error == NO_CAPACITY:
        raise CapacityError(f"{PROVIDER}: no capacity ({message})", scope="offer")
    raise PermanentLaunchError(f"{PROVIDER}: {error or 'rent refused'}: {message}"[:500])


def _status_of(instance: dict) -> InstanceStatus:
    actual = instance.get("actual_status") or ""
    connection = {}
    if actual in _RUNNING:
        state = InstanceState.RUNNING
        connection = {"host": instance["ssh_host"], "port": instance["ssh_port"], "user": "root"}
    elif actual in _ENDED:
        # An interruptible instance we did not stop was outbid: Vast took the machine back.
        outbid = instance.get("is_bid") and instance.get("intended_status") == "running"
        state = InstanceState.PREEMPTED if outbid else InstanceState.TERMINATED
    else:
        state = InstanceState.PENDING  # created, loading, scheduling...
    return InstanceStatus(
        instance_id=str(instance["id"]), state=state, connection=connection, detail=actual
    )
