"""The fields a filter can name: their value type and what they compile to on `Offer`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from . import units
from .values import (
    BoolType,
    ChoiceType,
    ComputeCapabilityType,
    DurationType,
    GpuNameType,
    NumberType,
    TextType,
    ValueType,
    closest,
)

# --- targets: where a field's value lives ------------------------------------------------
# Plain data, so that this module stays free of Django; the compiler turns each into lookups.


@dataclass(frozen=True)
class Column:
    """A column of Offer."""

    name: str
    nullable: bool = False


@dataclass(frozen=True)
class TotalVram:
    """gpu_count * gpu_memory_gb: no column holds it, so it compiles to an expression."""


@dataclass(frozen=True)
class Age:
    """Time since a timestamp column: observed<1h means observed_at after now - 1h."""

    column: str


@dataclass(frozen=True)
class GpuAttribute:
    """A property of the offer's GpuModel, resolved to GPU ids so no query joins the table."""

    attribute: str  # "name", "vendor" or "compute_cap"


@dataclass(frozen=True)
class ProviderSlug:
    """The provider's slug, resolved to provider ids (no join)."""


Target = Column | TotalVram | Age | GpuAttribute | ProviderSlug


@dataclass(frozen=True)
class Field:
    name: str
    type: ValueType
    target: Target
    description: str

    @property
    def sortable(self) -> bool:
        return isinstance(self.type, NumberType | DurationType)


# --- value types shared by several fields --------------------------------------------------

SIZE_GB = NumberType(units.SIZE, minimum=Decimal(0), label="size")
PRICE = NumberType(units.PRICE_PER_HOUR, minimum=Decimal(0), label="price per hour")
WHOLE = NumberType(units.COUNT, integer=True, minimum=Decimal(0), label="whole number")
VENDORS = ChoiceType(
    {
        "nvidia": "nvidia",
        "nv": "nvidia",
        "amd": "amd",
        "google": "google",
        "tpu": "google",
        "intel": "intel",
        "tenstorrent": "tenstorrent",
    },
    label="GPU vendor",
)
CONTINENTS = ChoiceType(
    {
        **{code.lower(): code for code in ("AF", "AN", "AS", "EU", "NA", "OC", "SA")},
        "africa": "AF",
        "antarctica": "AN",
        "asia": "AS",
        "europe": "EU",
        "north_america": "NA",
        "oceania": "OC",
        "australia": "OC",
        "south_america": "SA",
    },
    label="continent",
)
PRICING = ChoiceType(
    {
        "on_demand": "on_demand",
        "ondemand": "on_demand",
        "spot": "spot",
        "interruptible": "spot",
        "preemptible": "spot",
        "reserved": "reserved",
    },
    label="pricing model",
)
STATUSES = ChoiceType(
    {"active": "active", "stale": "stale", "withdrawn": "withdrawn"}, label="offer status"
)
COUNTRY = TextType(
    fold_case=False,
    wildcards=False,
    shape=re.compile(r"[A-Z]{2}"),
    shape_hint="Countries are ISO 3166 two-letter codes: country=DE or country in [US,CA].",
)
CURRENCY = TextType(
    fold_case=False,
    wildcards=False,
    shape=re.compile(r"[A-Z]{3}"),
    shape_hint="Currencies are ISO 4217 codes: currency=USD.",
)

FIELDS: dict[str, Field] = {
    field.name: field
    for field in (
        Field("gpu", GpuNameType(), GpuAttribute("name"), "GPU model, e.g. H100 or RTX_4090"),
        Field(
            "gpu_vendor", VENDORS, GpuAttribute("vendor"), "nvidia, amd, google, intel, tenstorrent"
        ),
        Field("gpus", WHOLE, Column("gpu_count"), "GPUs in the instance"),
        Field("vram", SIZE_GB, Column("gpu_memory_gb"), "memory per GPU, GB"),
        Field("total_vram", SIZE_GB, TotalVram(), "memory of all GPUs together, GB"),
        Field(
            "compute_cap",
            ComputeCapabilityType(),
            GpuAttribute("compute_cap"),
            "CUDA compute capability",
        ),
        Field(
            "vcpus", NumberType(units.COUNT, minimum=Decimal(0)), Column("vcpus"), "virtual CPUs"
        ),
        Field("ram", SIZE_GB, Column("memory_gb"), "host memory, GB"),
        Field("disk", SIZE_GB, Column("disk_gb"), "disk, GB"),
        Field("provider", TextType(), ProviderSlug(), "provider slug"),
        Field("region", TextType(), Column("region"), "provider region, e.g. us-east-1"),
        Field("zone", TextType(), Column("zone"), "availability zone"),
        Field("country", COUNTRY, Column("country"), "ISO country code"),
        Field("continent", CONTINENTS, Column("continent"), "AF AN AS EU NA OC SA"),
        Field("pricing", PRICING, Column("pricing"), "on_demand, spot or reserved"),
        Field("price", PRICE, Column("price_per_hour"), "price of the instance per hour"),
        Field("gpu_price", PRICE, Column("price_per_gpu_hour"), "price per GPU-hour"),
        Field("currency", CURRENCY, Column("currency"), "ISO currency code of the prices"),
        Field("available", WHOLE, Column("available"), "instances that can be reserved now"),
        Field(
            "reliability",
            NumberType(units.RATIO, minimum=Decimal(0), maximum=Decimal(1), label="ratio"),
            Column("reliability", nullable=True),
            "share of launches that succeed, 0 to 1",
        ),
        Field("interconnect", TextType(), Column("interconnect"), "sxm, pcie, nvlink, ..."),
        Field("sku", TextType(), Column("sku"), "the provider's instance type"),
        Field("status", STATUSES, Column("status"), "active, stale or withdrawn"),
        Field("suspect", BoolType(), Column("suspect"), "price flagged as an outlier"),
        Field("observed", DurationType(), Age("observed_at"), "age of the price, e.g. observed<1h"),
    )
}

# Vast.ai's names for the same things, so that a Vast query pastes in unchanged.
ALIASES = {
    "num_gpus": "gpus",
    "gpu_name": "gpu",
    "gpu_ram": "vram",
    "gpu_total_ram": "total_vram",
    "gpu_arch": "gpu_vendor",
    "cpu_ram": "ram",
    "cpu_cores": "vcpus",
    "disk_space": "disk",
    "dph": "price",
    "dph_total": "price",
    "reliability2": "reliability",
    "geolocation": "country",
}
# Vast.ai fields with no counterpart in this catalog: they get a specific hint instead of a
# "did you mean" that would point at an unrelated field.
VAST_ONLY_FIELDS = frozenset(
    {
        "bw_nvlink", "cpu_arch", "cpu_cores_effective", "cpu_ghz", "cuda_max_good", "cuda_vers",
        "datacenter", "direct_port_count", "disk_bw", "dlperf", "dlperf_per_dphtotal", "dlperf_usd",
        "driver_version", "duration", "external", "flops_per_dphtotal", "flops_usd", "gpu_frac",
        "gpu_display_active", "gpu_mem_bw", "has_avx", "host_id", "inet_down", "inet_down_cost",
        "inet_up", "inet_up_cost", "machine_id", "min_bid", "mobo_name", "pci_gen", "pcie_bw",
        "rentable", "rented", "static_ip", "storage_cost", "total_flops", "ubuntu_version",
        "verification", "verified", "vms_enabled", "cluster_id",
    }
)  # fmt: skip


def lookup_field(name: str) -> Field | None:
    key = name.lower()
    return FIELDS.get(ALIASES.get(key, key))


def unknown_field_hint(name: str) -> str:
    key = name.lower()
    if key in VAST_ONLY_FIELDS:
        return f"{name} is a Vast.ai field with no equivalent here."
    guess = closest(key, list(FIELDS) + list(ALIASES))
    if guess:
        return f"Did you mean {ALIASES.get(guess, guess)}?"
    return "Fields: " + ", ".join(FIELDS) + "."
