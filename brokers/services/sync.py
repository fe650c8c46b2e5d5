"""Refresh pricing: run a source, normalise its rows, upsert offers, record the sync."""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from brokers.models import PriceSync, SyncStatus
from brokers.registry import get_source
from brokers.simulated import PROVIDER_SLUG as SIMULATED_SLUG
from brokers.sources.base import OfferRow, RowError
from marketplace.gpu_names import resolve
from marketplace.locations import locate
from marketplace.models import GpuModel, Provider, ProviderKind
from marketplace.services.offers import (
    OfferInput,
    UpsertCounts,
    offer_upsert_batch,
    offers_mark_stale,
    offers_withdraw_unseen,
)

logger = logging.getLogger(__name__)
BATCH_SIZE = 5000
MAX_RECORDED_ERRORS = 500
# Offers a provider does not count (catalog clouds): treat as one launchable unit.
DEFAULT_AVAILABLE = 1


class ProviderCache:
    """Provider ids by slug; creates system providers on first sight."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}

    def id_for(self, slug: str) -> int:
        if slug not in self._ids:
            self._ids[slug] = self._get_or_create(slug).pk
        return self._ids[slug]

    @staticmethod
    def _get_or_create(slug: str) -> Provider:
        simulated = slug == SIMULATED_SLUG
        provider, _ = Provider.objects.get_or_create(
            slug=slug,
            defaults={
                "name": "Simulated Cloud" if simulated else slug.replace("-", " ").title(),
                "kind": ProviderKind.SIMULATED if simulated else ProviderKind.CLOUD,
                "launcher": "simulated" if simulated else "",
            },
        )
        return provider

    @property
    def ids(self) -> list[int]:
        return list(self._ids.values())


class GpuCache:
    def __init__(self) -> None:
        self._ids = {(g.vendor, g.name, g.memory_gb): g.pk for g in GpuModel.objects.all()}

    def id_for(self, key: tuple) -> int | None:
        return self._ids.get(key)


class Normaliser:
    """OfferRow -> OfferInput, counting what it cannot place."""

    def __init__(self) -> None:
        self.providers = ProviderCache()
        self.gpus = GpuCache()
        self.unknown_labels: Counter[str] = Counter()
        self.skipped = 0

    def normalise(self, row: OfferRow) -> OfferInput | None:
        if not row.gpu_label or row.gpu_count <= 0:
            self.skipped += 1  # CPU-only rows: not our market
            return None
        spec = resolve(row.gpu_label, row.gpu_memory_mib)
        gpu_id = self.gpus.id_for(spec.key) if spec else None
        if gpu_id is None:
            self.unknown_labels[row.gpu_label] += 1
            return None
        place = locate(row.region or row.zone)
        return OfferInput(
            provider_id=self.providers.id_for(row.provider),
            sku=row.sku,
            gpu_id=gpu_id,
            gpu_count=row.gpu_count,
            gpu_memory_gb=Decimal(spec.memory_gb),
            price_per_hour=row.price_per_hour,
            pricing=row.pricing,
            currency=row.currency,
            vcpus=row.vcpus or Decimal(0),
            memory_gb=row.memory_gb or Decimal(0),
            disk_gb=row.disk_gb or Decimal(0),
            region=row.region,
            zone=row.zone,
            country=place.country,
            continent=place.continent,
            available=DEFAULT_AVAILABLE if row.available is None else row.available,
            reliability=row.reliability,
            interconnect=row.interconnect,
            extra=row.extra,
        )


def _batched(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def refresh_source(
    *, source_name: str, path: str | None = None, on_progress: Callable[[int], None] | None = None
) -> PriceSync:
    source = get_source(source_name)
    started = timezone.now()
    sync = PriceSync.objects.create(source=source_name, path=path or "", started_at=started)
    normaliser = Normaliser()
    counts = UpsertCounts()
    errors: list[dict] = []
    source_failed = False
    for batch in _batched(source.fetch(path=path), BATCH_SIZE):
        inputs = []
        for item in batch:
            if isinstance(item, RowError):
                source_failed = source_failed or item.where.startswith(("http", "source"))
                if len(errors) < MAX_RECORDED_ERRORS:
                    errors.append({"where": item.where, "reason": item.reason})
                continue
            sync.rows_read += 1
            if (offer := normaliser.normalise(item)) is not None:
                inputs.append(offer)
        counts.add(offer_upsert_batch(batch=inputs, observed_at=started))
        if on_progress:
            on_progress(sync.rows_read)
    if source.complete and not source_failed and normaliser.providers.ids:
        counts.withdrawn = offers_withdraw_unseen(
            provider_ids=normaliser.providers.ids, seen_since=started
        )
    offers_mark_stale(
        provider_ids=normaliser.providers.ids,
        max_age=timedelta(seconds=source.freshness_limit_seconds),
    )
    return _finish(sync, counts, normaliser, errors)


def _finish(
    sync: PriceSync, counts: UpsertCounts, normaliser: Normaliser, errors: list[dict]
) -> PriceSync:
    sync.created, sync.updated = counts.created, counts.updated
    sync.unchanged, sync.withdrawn = counts.unchanged, counts.withdrawn
    sync.rows_skipped = normaliser.skipped
    sync.unknown_labels = dict(normaliser.unknown_labels)
    sync.errors = errors
    if errors and not sync.rows_read:
        sync.status = SyncStatus.FAILED
    else:
        sync.status = SyncStatus.PARTIAL if errors else SyncStatus.SUCCEEDED
    sync.finished_at = timezone.now()
    sync.save()
    logger.info(
        "price sync finished",
        extra={"source": sync.source, "sync_id": sync.pk, "status": sync.status},
    )
    return sync
