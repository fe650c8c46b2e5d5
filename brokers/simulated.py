"""The built-in simulated cloud: a pricing source and a launcher that behave like a real
provider (latency, capacity failures) so that the demo and the tests cross the whole path.

Instances live in the database (`SimulatedInstance`), so every worker process sees one
cloud. Behaviour is set per provider in `Provider.config`:
  {"latency_seconds": 0, "failure_rate": 0.0, "failure": "capacity" | "permanent",
   "capacity_scope": "zone" | "region" | "provider", "launch_call_seconds": 0,
   "preempt_after_seconds": null, "egress_gb_per_instance_hour": 0}
`latency_seconds` is boot time (the instance is pending, then running); `launch_call_seconds`
is how long the launch call itself takes after the cloud accepted it, as a slow API does;
spot instances are taken back `preempt_after_seconds` after they started running (an
operator can also preempt one at once from the admin); each running instance sends
`egress_gb_per_instance_hour` out, which the cloud reports like a real one would.
"""

from __future__ import annotations

import functools
import json
import random
import secrets
import time
from collections.abc import Iterator, Mapping
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from django.db import IntegrityError, transaction
from django.utils import timezone

from brokers.launchers.base import (
    CapacityError,
    InstanceState,
    InstanceStatus,
    Launcher,
    LaunchSpec,
    PermanentLaunchError,
)
from brokers.models import SimulatedInstance
from brokers.sources._common import bytes_fingerprint, file_fingerprint
from brokers.sources.base import OfferRow, PricingSource, RowError, SourceInput

PROVIDER_SLUG = "simcloud"

# (sku, gpu label, gpus, vcpus, ram GiB, disk GB, region, on-demand $/h, spot $/h, available)
DEFAULT_CATALOG = [
    ("sim.h100x8", "H100", 8, 208, 1800, 2000, "sim-us-east-1", "23.920000", "11.200000", 4),
    ("sim.h100x1", "H100", 1, 26, 225, 250, "sim-us-east-1", "2.990000", "1.400000", 16),
    ("sim.a100-80x8", "A100-80GB", 8, 96, 1152, 2000, "sim-eu-west-1", "14.320000", "6.900000", 4),
    ("sim.a100-80x1", "A100-80GB", 1, 12, 144, 250, "sim-eu-west-1", "1.790000", "0.860000", 16),
    ("sim.l40sx4", "L40S", 4, 48, 384, 1000, "sim-eu-west-1", "5.960000", "2.900000", 8),
    ("sim.l4x1", "L4", 1, 8, 32, 100, "sim-us-west-2", "0.480000", "0.220000", 32),
    ("sim.rtx4090x1", "RTX 4090", 1, 16, 64, 200, "sim-ap-northeast-1", "0.390000", "0.190000", 24),
    ("sim.mi300xx8", "MI300X", 8, 192, 2048, 4000, "sim-us-east-1", "27.500000", "", 2),
]


class SimulatedCloudSource(PricingSource):
    name = "simulated"
    provider_slug = PROVIDER_SLUG
    complete = True
    freshness_limit_seconds = 3600

    def inputs(
        self, *, path: str | None = None, previous: Mapping[str, str] | None = None
    ) -> Iterator[SourceInput]:
        if path:
            file = Path(path)
            read = functools.partial(self._from_file, file)
            yield SourceInput(name=file.name, fingerprint=file_fingerprint(file), read=read)
        else:
            fingerprint = bytes_fingerprint(repr(DEFAULT_CATALOG).encode())
            yield SourceInput(name="default", fingerprint=fingerprint, read=self._default)

    def _default(self) -> Iterator[OfferRow | RowError]:
        for sku, label, gpus, vcpus, ram, disk, region, price, spot, available in DEFAULT_CATALOG:
            yield _row(sku, label, gpus, vcpus, ram, disk, region, "on_demand", price, available)
            if spot:
                yield _row(sku, label, gpus, vcpus, ram, disk, region, "spot", spot, available)

    def _from_file(self, path: Path) -> Iterator[OfferRow | RowError]:
        try:
            items = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            yield RowError(where=str(path), reason=f"cannot read simulated catalog: {exc}")
            return
        for n, item in enumerate(items, start=1):
            try:
                yield _row(
                    item["sku"],
                    item["gpu"],
                    int(item["gpu_count"]),
                    item.get("vcpus", 0),
                    item.get("memory_gb", 0),
                    item.get("disk_gb", 0),
                    item.get("region", ""),
                    item.get("pricing", "on_demand"),
                    str(item["price_per_hour"]),
                    int(item.get("available", 1)),
                )
            except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
                yield RowError(where=f"{path.name}[{n}]", reason=f"bad item: {exc!r}")


def _row(sku, label, gpus, vcpus, ram, disk, region, pricing, price, available) -> OfferRow:
    return OfferRow(
        sku=sku,
        provider=PROVIDER_SLUG,
        gpu_label=label,
        gpu_count=gpus,
        price_per_hour=Decimal(price),
        pricing=pricing,
        vcpus=Decimal(vcpus),
        memory_gb=Decimal(ram),
        disk_gb=Decimal(disk),
        region=region,
        available=available,
    )


class SimulatedLauncher(Launcher):
    name = "simulated"

    def launch(self, spec: LaunchSpec) -> InstanceStatus:
        existing = SimulatedInstance.objects.filter(idempotency_key=spec.idempotency_key).first()
        if existing is not None:  # a retried call: the same instance, never a second one
            return self._status(existing, spec.options)
        self._maybe_fail(spec.options)
        now = timezone.now()
        latency = Decimal(str(spec.options.get("latency_seconds", 0)))
        ready_at = now + timedelta(seconds=float(latency))
        try:
            with transaction.atomic():
                instance = SimulatedInstance.objects.create(
                    instance_id=f"sim-{secrets.token_hex(6)}",
                    idempotency_key=spec.idempotency_key,
                    sku=spec.sku,
                    region=spec.region,
                    units=spec.units,
                    state=InstanceState.PENDING,
                    ready_at=ready_at,
                    preempt_at=_preempt_at(spec, ready_at),
                )
        except IntegrityError:
            instance = SimulatedInstance.objects.get(idempotency_key=spec.idempotency_key)
        # The cloud has the instance now; the answer is slow to come back. A worker killed
        # here leaves an instance we do not know the id of: the retry finds it by its key.
        time.sleep(float(spec.options.get("launch_call_seconds", 0)))
        return self._status(instance, spec.options)

    def poll(self, instance_id: str, *, options: dict | None = None) -> InstanceStatus:
        instance = SimulatedInstance.objects.filter(instance_id=instance_id).first()
        if instance is None:
            raise PermanentLaunchError(f"simulated cloud has no instance {instance_id}")
        return self._status(instance, options or {})

    def terminate(self, instance_id: str, *, options: dict | None = None) -> InstanceStatus:
        SimulatedInstance.objects.filter(
            instance_id=instance_id, terminated_at__isnull=True
        ).update(state=InstanceState.TERMINATED, terminated_at=timezone.now())
        return self.poll(instance_id, options=options)

    @staticmethod
    def _maybe_fail(options: dict) -> None:
        rate = float(options.get("failure_rate", 0))
        if rate and random.random() < rate:
            if options.get("failure") == "permanent":
                raise PermanentLaunchError("simulated cloud: invalid credentials")
            scope = options.get("capacity_scope", "zone")
            raise CapacityError(f"simulated cloud: insufficient capacity in {scope}", scope=scope)

    @staticmethod
    def _status(instance: SimulatedInstance, options: dict) -> InstanceStatus:
        state, now = instance.state, timezone.now()
        if state == InstanceState.PENDING and now >= instance.ready_at:
            state = InstanceState.RUNNING
            SimulatedInstance.objects.filter(pk=instance.pk, state=InstanceState.PENDING).update(
                state=state
            )
        if state == InstanceState.RUNNING and instance.preempt_at and now >= instance.preempt_at:
            state = InstanceState.PREEMPTED
            SimulatedInstance.objects.filter(pk=instance.pk, state=InstanceState.RUNNING).update(
                state=state, terminated_at=instance.preempt_at
            )
            instance.terminated_at = instance.preempt_at
        connection = {}
        if state == InstanceState.RUNNING:
            connection = {
                "host": f"{instance.instance_id}.sim.invalid",
                "port": 22,
                "user": "ubuntu",
            }
        ended_at = instance.terminated_at if state != InstanceState.RUNNING else None
        return InstanceStatus(
            instance_id=instance.instance_id,
            state=state,
            connection=connection,
            ended_at=ended_at,
            egress_gb=_egress_gb(instance, options, ended_at or now),
        )


def _egress_gb(instance: SimulatedInstance, options: dict, until) -> Decimal | None:
    """Data sent out since the instance came up: its rate × instances × hours up."""
    rate = Decimal(str(options.get("egress_gb_per_instance_hour", 0)))
    if not rate:
        return None
    seconds = max((until - instance.ready_at).total_seconds(), 0)
    hours = Decimal(int(seconds)) / 3600
    return (rate * instance.units * hours).quantize(Decimal("0.000001"))


def _preempt_at(spec: LaunchSpec, ready_at):
    seconds = spec.options.get("preempt_after_seconds")
    if spec.pricing != "spot" or seconds is None:
        return None
    return ready_at + timedelta(seconds=float(seconds))


def simulated_instances_preempt(*, instance_ids, at=None) -> int:
    """Take running spot capacity back now (operators, from the admin); the next check of
    running reservations sees the preemption."""
    return SimulatedInstance.objects.filter(
        instance_id__in=list(instance_ids), terminated_at__isnull=True
    ).update(preempt_at=at or timezone.now())
