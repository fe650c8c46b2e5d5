"""GCP's split rows in SkyPilot's catalog.

GCP prices a GPU VM in two rows of `gcp/vms.csv`: the host machine type (`a2-highgpu-1g`,
InstanceType set, no accelerator) and the accelerators (InstanceType empty,
`AcceleratorName`/`AcceleratorCount` set), each per zone. A buyable offer is their sum in
the same zone. TPU rows stand alone: a TPU VM's price includes its host.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from decimal import Decimal

# Accelerators sold only inside their machine family: (label, count) -> machine types.
# GCP documents these pairings on its GPU machine-types page; L4 fits several G2 sizes.
_BUNDLED_HOSTS: dict[tuple[str, int], tuple[str, ...]] = {
    ("A100", 1): ("a2-highgpu-1g",), ("A100", 2): ("a2-highgpu-2g",),
    ("A100", 4): ("a2-highgpu-4g",), ("A100", 8): ("a2-highgpu-8g",),
    ("A100", 16): ("a2-megagpu-16g",),
    ("A100-80GB", 1): ("a2-ultragpu-1g",), ("A100-80GB", 2): ("a2-ultragpu-2g",),
    ("A100-80GB", 4): ("a2-ultragpu-4g",), ("A100-80GB", 8): ("a2-ultragpu-8g",),
    ("H100", 1): ("a3-highgpu-1g",), ("H100", 2): ("a3-highgpu-2g",),
    ("H100", 4): ("a3-highgpu-4g",), ("H100", 8): ("a3-highgpu-8g",),
    ("H100-MEGA", 8): ("a3-megagpu-8g",), ("H200", 8): ("a3-ultragpu-8g",),
    ("B200", 8): ("a4-highgpu-8g",),
    ("L4", 1): ("g2-standard-4", "g2-standard-8", "g2-standard-12", "g2-standard-16",
                "g2-standard-32"),
    ("L4", 2): ("g2-standard-24",), ("L4", 4): ("g2-standard-48",), ("L4", 8): ("g2-standard-96",),
    ("RTXPRO6000", 1): ("g4-standard-48",), ("RTXPRO6000", 2): ("g4-standard-96",),
    ("RTXPRO6000", 4): ("g4-standard-192",), ("RTXPRO6000", 8): ("g4-standard-384",),
}  # fmt: skip
_BUNDLED_HOST_TYPES = frozenset(t for types in _BUNDLED_HOSTS.values() for t in types)
# Older GPUs attach to an N1 VM of any size; the offer uses one sensible size per count.
_N1_ATTACHABLE = frozenset({"T4", "V100", "P100", "P4", "K80"})
_N1_HOST_FOR_COUNT = {
    1: "n1-standard-8",
    2: "n1-standard-16",
    4: "n1-standard-32",
    8: "n1-standard-64",
}
# A slice size has a few digits; int() refuses 4300 or more, and no slice has that many chips.
_TPU_SLICE = re.compile(r"tpu-(v\d+[a-z]*)-(\d{1,6})")
# Slice sizes count TensorCores on these generations (2 per chip), chips on the others.
_TPU_TWO_CORES_PER_CHIP = frozenset({"v2", "v3", "v4", "v5p"})


# Not frozen, though nothing changes one once made (`dataclasses.replace` makes another): a
# frozen dataclass's __init__ sets each field through object.__setattr__, which costs
# several plain assignments, and one of these is built for every row of every sync.
@dataclass
class PricedRow:
    """The fields of a vms.csv row that the join needs (a subset of the source's row)."""

    instance_type: str
    label: str
    count: int
    price: Decimal | None
    spot: Decimal | None
    vcpus: Decimal | None
    memory_gb: Decimal | None
    region: str
    zone: str


class GcpSplitPricing:
    """Collects host and accelerator rows while a file streams; joins them at the end."""

    def __init__(self) -> None:
        self._hosts: dict[tuple[str, str, str], PricedRow] = {}
        self._accelerators: list[tuple[PricedRow, str]] = []

    def keep_host(self, row: PricedRow) -> bool:
        """Remember a host price; True when the row is a bundled host, which is no offer
        on its own (an a2-highgpu-1g without its A100 cannot be bought)."""
        if (
            row.instance_type in _BUNDLED_HOST_TYPES
            or row.instance_type in _N1_HOST_FOR_COUNT.values()
        ):
            self._hosts[(row.instance_type, row.region, row.zone)] = row
        return row.instance_type in _BUNDLED_HOST_TYPES

    def add_accelerator(self, row: PricedRow, where: str) -> None:
        self._accelerators.append((row, where))

    def joined(self) -> Iterator[tuple[PricedRow, PricedRow, str] | tuple[None, str, str]]:
        """(accelerator, host, where) for each pairing found, or (None, reason, where)."""
        for accelerator, where in self._accelerators:
            host_types = hosts_for(accelerator.label, accelerator.count)
            if not host_types:
                yield (
                    None,
                    f"no GCP machine type known for {accelerator.label} x{accelerator.count}",
                    where,
                )
                continue
            found = False
            for host_type in host_types:
                host = self._hosts.get((host_type, accelerator.region, accelerator.zone))
                if host is not None:
                    found = True
                    yield accelerator, host, where
            if not found:
                zone = accelerator.zone or accelerator.region
                yield None, f"no price for host {'/'.join(host_types)} in {zone}", where


def hosts_for(label: str, count: int) -> tuple[str, ...]:
    if label in _N1_ATTACHABLE and count in _N1_HOST_FOR_COUNT:
        return (_N1_HOST_FOR_COUNT[count],)
    return _BUNDLED_HOSTS.get((label, count), ())


def combine(accelerator: PricedRow, host: PricedRow) -> PricedRow:
    """The offer a buyer pays for: host plus accelerators, on-demand and spot alike."""
    bundled = host.instance_type in _BUNDLED_HOST_TYPES
    sku = (
        host.instance_type
        if bundled
        else f"{host.instance_type}+{accelerator.label}x{accelerator.count}"
    )
    return replace(
        accelerator,
        instance_type=sku,
        price=_sum(accelerator.price, host.price),
        spot=_sum(accelerator.spot, host.spot),
        vcpus=host.vcpus,
        memory_gb=host.memory_gb,
    )


def tpu_chips(label: str) -> int | None:
    """Chips in a TPU slice label ("tpu-v6e-8" -> 8, "tpu-v5p-8" -> 4), None if not one."""
    match = _TPU_SLICE.fullmatch(label.lower())
    if not match:
        return None
    version, size = match.group(1), int(match.group(2))
    return max(1, size // 2) if version in _TPU_TWO_CORES_PER_CHIP else size


def _sum(first: Decimal | None, second: Decimal | None) -> Decimal | None:
    return first + second if first is not None and second is not None else None
