"""The one interface every pricing source implements.

A source fetches a provider's public price list and parses it into `OfferRow`s. It does
not normalise GPU names or locations: the sync pipeline does that in one place
(`marketplace.gpu_names`, `marketplace.locations`), so every source is judged by the same
rules. Parsing problems with one row are reported as `RowError`s and never stop the rest.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import ClassVar


class PricingModel:
    ON_DEMAND = "on_demand"
    SPOT = "spot"
    RESERVED = "reserved"


@dataclass(frozen=True, slots=True)
class OfferRow:
    """One purchasable offer as a provider lists it, before normalisation."""

    sku: str  # the provider's instance type / shape name
    provider: str  # provider slug ("aws", "lambda"...): one source may list several clouds
    gpu_label: str  # raw accelerator label as the provider writes it ("" for CPU-only)
    gpu_count: int
    price_per_hour: Decimal  # whole instance, in `currency`
    pricing: str = PricingModel.ON_DEMAND
    currency: str = "USD"
    gpu_memory_mib: int | None = None  # per GPU, when the provider says
    vcpus: Decimal | None = None
    memory_gb: Decimal | None = None  # host RAM, GiB
    disk_gb: Decimal | None = None
    region: str = ""
    zone: str = ""
    available: int | None = None  # units the provider says can be launched now; None = unknown
    reliability: Decimal | None = None  # 0..1 where the provider reports it (vast)
    interconnect: str = ""  # "sxm", "pcie", "nvlink", ... where known
    extra: dict = field(default_factory=dict)  # provider-specific details kept for operators


@dataclass(frozen=True, slots=True)
class RowError:
    """A row (or a whole request) that could not be read, with the reason."""

    where: str  # "file.csv:12", a URL, "page 3"...
    reason: str


class PricingSource:
    """Base class of a pricing source. Subclasses set `name` and implement `fetch`.

    `fetch` yields `OfferRow` and `RowError` items as it streams through the input, so a
    large catalog never sits in memory whole. `complete` says whether one run lists every
    offer the source has (then offers missing from it can be withdrawn).
    """

    name: ClassVar[str]
    provider_slug: ClassVar[str]  # default provider the offers belong to
    complete: ClassVar[bool] = True
    freshness_limit_seconds: ClassVar[int] = 6 * 3600

    def fetch(self, *, path: str | None = None) -> Iterator[OfferRow | RowError]:
        raise NotImplementedError
