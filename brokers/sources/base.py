"""The one interface every pricing source implements.

A source fetches a provider's public price list and parses it into `OfferRow`s. It does
not normalise GPU names or locations: the sync pipeline does that in one place
(`marketplace.gpu_names`, `marketplace.locations`), so every source is judged by the same
rules. Parsing problems with one row are reported as `RowError`s and never stop the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import ClassVar


class PricingModel:
    ON_DEMAND = "on_demand"
    SPOT = "spot"
    RESERVED = "reserved"


# Not frozen, though nothing changes one once made (`dataclasses.replace` makes another): a
# frozen dataclass's __init__ sets each field through object.__setattr__, which costs
# several plain assignments, and one of these is built for every row of every sync.
@dataclass(slots=True)
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


Rows = Iterator[OfferRow | RowError]


@dataclass(frozen=True, slots=True)
class SourceInput:
    """One input of a source (a catalog file, a zip, an API response), named the same way
    in every run, with a fingerprint of its content.

    The sync skips an input whose fingerprint equals the one the last sync recorded for it:
    `read` is then never called (for an HTTP input answered 304 Not Modified, there is no
    body to read). An empty fingerprint means "unknown": the input is always read.
    `read` works until the next input is asked for: a downloaded body is removed then.
    """

    name: str  # "aws/vms.csv", "catalog.zip/lambdalabs.csv", "instance-types"
    fingerprint: str  # "sha256:<hex>" of the bytes, or "etag:<value>" from the server
    read: Callable[[], Rows]


class PricingSource:
    """Base class of a pricing source. Subclasses set `name` and implement `inputs` (or,
    for a source that cannot tell one input from another, `fetch`).

    `inputs` yields the source's inputs one at a time, and each input's `read` yields
    `OfferRow` and `RowError` items as it streams through it, so a large catalog never sits
    in memory whole. `previous` maps input names to the fingerprints the last sync recorded:
    an HTTP source sends them back as conditional requests (`If-None-Match`), and yields the
    same fingerprint when the server answers 304. A failure that leaves no input to read
    (a folder that does not exist, an HTTP error) is an input whose `read` yields it.
    `complete` says whether one run lists every offer the source has (then offers missing
    from it can be withdrawn).
    """

    name: ClassVar[str]
    provider_slug: ClassVar[str]  # default provider the offers belong to
    complete: ClassVar[bool] = True
    freshness_limit_seconds: ClassVar[int] = 6 * 3600

    @classmethod
    def provider_slugs(cls) -> frozenset[str]:
        """The provider slugs this source writes offers for, as far as it knows them before
        reading (a catalog may name more): organizations may not register them."""
        return frozenset({cls.provider_slug})

    def inputs(
        self, *, path: str | None = None, previous: Mapping[str, str] | None = None
    ) -> Iterator[SourceInput]:
        """By default the whole fetch is one input with no fingerprint: always read."""
        yield SourceInput(name=self.name, fingerprint="", read=lambda: self.fetch(path=path))

    def fetch(self, *, path: str | None = None) -> Rows:
        """Every row of every input, read unconditionally."""
        if type(self).inputs is PricingSource.inputs:
            raise NotImplementedError(f"{type(self).__name__} implements neither inputs nor fetch")
        for source_input in self.inputs(path=path):
            yield from source_input.read()
