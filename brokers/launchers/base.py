"""The one interface every launcher implements: launch, poll, terminate.

A launcher speaks to one provider's API. It knows nothing of reservations' state machine:
it gets a `LaunchSpec`, returns what the provider said, and raises one of the errors below
so that the caller can decide between failover, retry and giving up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import ClassVar

from django.conf import settings


class InstanceState:
    PENDING = "pending"  # accepted, still booting
    RUNNING = "running"
    TERMINATED = "terminated"
    FAILED = "failed"
    PREEMPTED = "preempted"


@dataclass(frozen=True, slots=True)
class LaunchSpec:
    reservation_id: int
    provider: str  # provider slug
    sku: str
    region: str
    zone: str
    pricing: str
    units: int  # how many instances of `sku`
    idempotency_key: str  # stable per reservation attempt: a retried launch must not double
    ssh_public_key: str = ""
    options: dict = field(default_factory=dict)  # provider settings (latency, failure rate...)
    gpu_count: int = 0  # GPUs per instance of `sku`
    price_per_hour: Decimal | None = None  # locked price per instance: the bid for spot


@dataclass(frozen=True, slots=True)
class InstanceStatus:
    instance_id: str
    state: str  # an InstanceState value
    connection: dict = field(default_factory=dict)  # host, port, user... for the buyer
    detail: str = ""
    ended_at: datetime | None = None  # when it was terminated or preempted, if the provider says
    egress_gb: Decimal | None = None  # data sent out since launch, if the provider says


class LaunchError(Exception):
    """Base of launch failures. `scope` says how far the failure reaches."""

    scope: ClassVar[str] = "offer"


class CapacityError(LaunchError):
    """No capacity for this offer: fail over to the next-best one."""

    def __init__(self, message: str, *, scope: str = "zone"):
        super().__init__(message)
        self.scope = scope  # "zone", "region" or "provider"


class TransientLaunchError(LaunchError):
    """Timeout, 5xx, rate limit: the same call may succeed if retried."""


class PermanentLaunchError(LaunchError):
    """Bad credentials, bad request: retrying or failing over blindly will not help."""

    scope = "provider"


class Launcher:
    name: ClassVar[str]
    # True when the provider reports state changes to us (events API) instead of being
    # polled: a PENDING launch or terminate is then left to wait for its event.
    reports_by_events: ClassVar[bool] = False
    # The setting holding the API key a cloud's launcher needs ("" for ours: simulated,
    # listed). Without it the cloud's offers are listed, not reservable.
    credential_setting: ClassVar[str] = ""

    @classmethod
    def configured(cls) -> bool:
        return not cls.credential_setting or bool(getattr(settings, cls.credential_setting, ""))

    def launch(self, spec: LaunchSpec) -> InstanceStatus:
        raise NotImplementedError

    def poll(self, instance_id: str, *, options: dict | None = None) -> InstanceStatus:
        raise NotImplementedError

    def terminate(self, instance_id: str, *, options: dict | None = None) -> InstanceStatus:
        raise NotImplementedError
