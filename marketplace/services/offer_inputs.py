"""Offer inputs: a normalised offer ready to store (`OfferInput`), and the check that it can
be stored as it is (`offer_input_problem`), made before a batch is written."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from decimal import Decimal

from common.money import quantize_rate
from marketplace.models import Offer

# Fields a sync may change on an existing offer; the identity fields never change.
IDENTITY_FIELDS = ("provider_id", "sku", "region", "zone", "pricing")
MUTABLE_FIELDS = (
    "gpu_id",
    "gpu_count",
    "gpu_memory_gb",
    "vcpus",
    "memory_gb",
    "disk_gb",
    "country",
    "continent",
    "price_per_hour",
    "price_per_gpu_hour",
    "currency",
    "available",
    "reliability",
    "interconnect",
)


# Not frozen, though nothing changes one once made (`dataclasses.replace` makes another): a
# frozen dataclass's __init__ sets each field through object.__setattr__, several times
# slower, and one of these is built for every row of every sync.
@dataclass(slots=True)
class OfferInput:
    """A normalised offer, ready to store: GPU and location already resolved."""

    provider_id: int
    sku: str
    gpu_id: int | None
    gpu_count: int
    price_per_hour: Decimal
    pricing: str = "on_demand"
    currency: str = "USD"
    gpu_memory_gb: Decimal = Decimal(0)
    vcpus: Decimal = Decimal(0)
    memory_gb: Decimal = Decimal(0)
    disk_gb: Decimal = Decimal(0)
    region: str = ""
    zone: str = ""
    country: str = ""
    continent: str = ""
    available: int = 0
    reliability: Decimal | None = None
    interconnect: str = ""
    extra: dict = field(default_factory=dict)
    feed_id: int | None = None  # the pricing-source input it came from (None: provider API)

    @property
    def key(self) -> tuple:
        return (self.provider_id, self.sku, self.region, self.zone, self.pricing)

    def prices(self) -> tuple[Decimal, Decimal]:
        """(price per hour, price per GPU-hour), to the 6 places rates keep."""
        price = quantize_rate(self.price_per_hour)
        return price, quantize_rate(price / self.gpu_count) if self.gpu_count else price

    def field_values(self) -> dict:
        price, per_gpu = self.prices()
        return {
            "gpu_id": self.gpu_id,
            "gpu_count": self.gpu_count,
            "gpu_memory_gb": self.gpu_memory_gb,
            "vcpus": self.vcpus,
            "memory_gb": self.memory_gb,
            "disk_gb": self.disk_gb,
            "country": self.country,
            "continent": self.continent,
            "price_per_hour": price,
            "price_per_gpu_hour": per_gpu,
            "currency": self.currency,
            "available": self.available,
            "reliability": self.reliability,
            "interconnect": self.interconnect,
        }


def offer_input_problem(item: OfferInput) -> str | None:
    """Why `item` cannot be stored as it is (a text too long, a number out of its column's
    range), or None. Checked before a batch is written: one bad row must not fail its batch.
    Called once per row of every sync, so it looks at the raw fields only (the per-GPU price
    is never above the price, so checking the price covers both), and asks the common case
    (every text fits, no NUL) in one go before it looks for the field to blame."""
    texts = _text_values(item)
    if any(map(operator.gt, map(len, texts), _TEXT_MAXES)) or "\x00" in "".join(texts):
        return _text_problem(item)
    # the common case in a few comparisons: every required number within the narrowest range
    required = _required_numbers(item)
    if (
        min(required) >= 0
        and max(required) < _NARROWEST_REQUIRED
        and 0 <= item.gpu_count <= 32767  # smallint
        and 0 <= item.available <= 2**31 - 1  # integer
        and _nullable_numbers(item) == _ALL_NULL
    ):
        return None
    return _number_problem(item) or _count_problem(item)


def _number_problem(item: OfferInput) -> str | None:
    for name, bound in _NUMBER_BOUNDS:
        value = getattr(item, name)
        if value is not None and not 0 <= value < bound:
            return f"{name} {value} is out of range"
    return None


def _count_problem(item: OfferInput) -> str | None:
    for name, limit in (("gpu_count", 32767), ("available", 2**31 - 1)):  # smallint, integer
        if not 0 <= getattr(item, name) <= limit:
            return f"{name} {getattr(item, name)} is out of range"
    return None


def _text_problem(item: OfferInput) -> str | None:
    for name, limit in _TEXT_LIMITS:
        value = getattr(item, name)
        if len(value) > limit:
            return f"{name} is longer than {limit} characters: {value[:40]!r}..."
        if "\x00" in value:
            return f"{name} contains a NUL character"
    return None


def _column_limits() -> tuple[list[tuple[str, int]], list[tuple[str, Decimal]]]:
    texts, numbers = [], []
    for f in Offer._meta.fields:
        if f.name in OfferInput.__dataclass_fields__ and getattr(f, "max_length", None):
            texts.append((f.name, f.max_length))
        elif f.name in OfferInput.__dataclass_fields__ and getattr(f, "max_digits", None):
            # numeric(14, 6) holds values below 10**8, less half a unit of the last place:
            # PostgreSQL rounds 99999999.9999995 up to 10**8, which it then refuses
            whole = Decimal(10) ** (f.max_digits - f.decimal_places)
            numbers.append((f.name, whole - Decimal("0.5").scaleb(-f.decimal_places)))
    return texts, numbers


_TEXT_LIMITS, _NUMBER_BOUNDS = _column_limits()
_text_values = operator.attrgetter(*(name for name, _ in _TEXT_LIMITS))
_TEXT_MAXES = tuple(limit for _, limit in _TEXT_LIMITS)
_NULLABLE_BOUNDS = [(n, b) for n, b in _NUMBER_BOUNDS if Offer._meta.get_field(n).null]
_REQUIRED_BOUNDS = [(n, b) for n, b in _NUMBER_BOUNDS if (n, b) not in _NULLABLE_BOUNDS]
_required_numbers = operator.attrgetter(*(name for name, _ in _REQUIRED_BOUNDS))
_nullable_numbers = operator.attrgetter(*(name for name, _ in _NULLABLE_BOUNDS))
# what `_nullable_numbers` gives when they are all NULL (attrgetter of one name: the value)
_ALL_NULL = None if len(_NULLABLE_BOUNDS) == 1 else (None,) * len(_NULLABLE_BOUNDS)
_NARROWEST_REQUIRED = min(bound for _, bound in _REQUIRED_BOUNDS)
