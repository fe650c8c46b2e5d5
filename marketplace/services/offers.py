"""Offer writes: bulk upsert from pricing syncs and provider lists, withdrawal, staleness."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from marketplace.models import Offer, OfferPrice, OfferStatus
from marketplace.money import quantize_rate

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


@dataclass(frozen=True, slots=True)
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

    @property
    def key(self) -> tuple:
        return (self.provider_id, self.sku, self.region, self.zone, self.pricing)

    def field_values(self) -> dict:
        price = quantize_rate(self.price_per_hour)
        per_gpu = quantize_rate(price / self.gpu_count) if self.gpu_count else price
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


@dataclass
class UpsertCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    withdrawn: int = 0

    def add(self, other: UpsertCounts) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.withdrawn += other.withdrawn


def _existing_by_key(batch: Sequence[OfferInput]) -> dict[tuple, Offer]:
    provider_ids = {item.provider_id for item in batch}
    skus = {item.sku for item in batch}
    rows = Offer.objects.filter(provider_id__in=provider_ids, sku__in=skus).only(
        "id", *IDENTITY_FIELDS, *MUTABLE_FIELDS, "status"
    )
    return {tuple(getattr(row, f) for f in IDENTITY_FIELDS): row for row in rows}


def _same(row: Offer, values: dict) -> bool:
    return row.status == OfferStatus.ACTIVE and all(getattr(row, k) == v for k, v in values.items())


def _dedupe(batch: Iterable[OfferInput]) -> list[OfferInput]:
    # ON CONFLICT cannot touch one row twice in a statement: the last listing of a key wins.
    return list({item.key: item for item in batch}.values())


@transaction.atomic
def offer_upsert_batch(*, batch: Sequence[OfferInput], observed_at: datetime) -> UpsertCounts:
    """Insert new offers, update changed ones, refresh `observed_at` of unchanged ones.

    A price history point is appended for new offers and for price changes only.
    """
    batch = _dedupe(batch)
    existing = _existing_by_key(batch)
    counts = UpsertCounts()
    to_write: list[Offer] = []
    unchanged_ids: list[int] = []
    price_changed_keys: set[tuple] = set()
    for item in batch:
        values = item.field_values()
        row = existing.get(item.key)
        if row is not None and _same(row, values):
            unchanged_ids.append(row.pk)
            continue
        if row is None:
            counts.created += 1
            price_changed_keys.add(item.key)
        else:
            counts.updated += 1
            if row.price_per_hour != values["price_per_hour"]:
                price_changed_keys.add(item.key)
        to_write.append(_offer_from(item, values, observed_at))
    _write_offers(to_write)
    counts.unchanged = len(unchanged_ids)
    Offer.objects.filter(pk__in=unchanged_ids).update(observed_at=observed_at)
    _append_price_history(price_changed_keys, observed_at)
    return counts


def _offer_from(item: OfferInput, values: dict, observed_at: datetime) -> Offer:
    return Offer(
        provider_id=item.provider_id,
        sku=item.sku,
        region=item.region,
        zone=item.zone,
        pricing=item.pricing,
        observed_at=observed_at,
        status=OfferStatus.ACTIVE,
        extra=item.extra,
        **values,
    )


def _write_offers(offers: list[Offer]) -> None:
    if not offers:
        return
    Offer.objects.bulk_create(
        offers,
        update_conflicts=True,
        unique_fields=["provider", "sku", "region", "zone", "pricing"],
        update_fields=[f.removesuffix("_id") for f in MUTABLE_FIELDS]
        + ["observed_at", "status", "extra"],
    )


def _append_price_history(keys: set[tuple], observed_at: datetime) -> None:
    if not keys:
        return
    rows = Offer.objects.filter(
        provider_id__in={k[0] for k in keys}, sku__in={k[1] for k in keys}
    ).values_list("id", *IDENTITY_FIELDS, "price_per_hour", "currency")
    OfferPrice.objects.bulk_create(
        OfferPrice(offer_id=row[0], price_per_hour=row[6], currency=row[7], observed_at=observed_at)
        for row in rows
        if tuple(row[1:6]) in keys
    )


def offers_withdraw_unseen(*, provider_ids: Iterable[int], seen_since: datetime) -> int:
    """After a complete sync: offers of these providers not seen in it are withdrawn."""
    return (
        Offer.objects.filter(provider_id__in=list(provider_ids), observed_at__lt=seen_since)
        .exclude(status=OfferStatus.WITHDRAWN)
        .update(status=OfferStatus.WITHDRAWN, available=0)
    )


def offers_mark_stale(
    *, provider_ids: Iterable[int], max_age: timedelta, now: datetime | None = None
) -> int:
    cutoff = (now or timezone.now()) - max_age
    return Offer.objects.filter(
        provider_id__in=list(provider_ids), status=OfferStatus.ACTIVE, observed_at__lt=cutoff
    ).update(status=OfferStatus.STALE)


def offer_withdraw(*, offer: Offer) -> Offer:
    Offer.objects.filter(pk=offer.pk).update(status=OfferStatus.WITHDRAWN, available=0)
    offer.refresh_from_db()
    return offer
