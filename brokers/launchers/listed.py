"""Offers that providers list themselves: we cannot start their machines, we ask.

`launch` files a launch request (webhook and poll) and answers PENDING; the provider reports
`running`, `failed`, `preempted` or `terminated` through the events API, so nothing polls
it (`reports_by_events`). See `brokers.services.listed` for delivery and time limits.
"""

from __future__ import annotations

from brokers.launchers.base import InstanceStatus, Launcher, LaunchSpec
from brokers.services import listed


class ListedLauncher(Launcher):
    name = "listed"
    reports_by_events = True

    def launch(self, spec: LaunchSpec) -> InstanceStatus:
        return listed.request_launch(spec)

    def poll(self, instance_id: str, *, options: dict | None = None) -> InstanceStatus:
        return listed.instance_status(instance_id)

    def terminate(self, instance_id: str, *, options: dict | None = None) -> InstanceStatus:
        return listed.request_terminate(instance_id)
