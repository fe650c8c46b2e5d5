"""The database-backed CatalogResolver: GPU and provider rows, cached per process briefly.

A search compiles GPU and provider criteria to id lists, so every search needs the
catalog's few hundred rows. They change rarely: each process keeps them for
settings.SEARCH_CATALOG_CACHE_SECONDS (default 60), and saving or deleting a GpuModel or
Provider in this process drops the cache at once. Other processes catch up when their copy
expires; so do bulk writes, which send no signals: call clear_catalog_cache() after one
when the next search must see it (tests that recreate the catalog, for instance).
"""

from __future__ import annotations

import threading
import time

from django.conf import settings
from django.db.models.signals import post_delete, post_save

from marketplace.models import GpuModel, Provider

from .catalog import GpuRow, ProviderRow, SnapshotResolver

DEFAULT_CACHE_SECONDS = 60.0

_lock = threading.Lock()
_cached: tuple[float, SnapshotResolver] | None = None


class DatabaseResolver:
    """Resolves against the process's snapshot, the same one for all the lookups of this
    resolver (one search): `snapshot_used` is the one it used, None while it used none."""

    def __init__(self):
        self.snapshot_used: SnapshotResolver | None = None

    def gpu_ids(self, **criteria) -> frozenset[int]:
        return self._snapshot().gpu_ids(**criteria)

    def provider_ids(self, **criteria) -> frozenset[int]:
        return self._snapshot().provider_ids(**criteria)

    def _snapshot(self) -> SnapshotResolver:
        if self.snapshot_used is None:
            self.snapshot_used = catalog_snapshot()
        return self.snapshot_used


def catalog_snapshot() -> SnapshotResolver:
    global _cached
    cached = _cached
    if cached is not None and time.monotonic() - cached[0] < _cache_seconds():
        return cached[1]
    with _lock:
        snapshot = _load_snapshot()
        _cached = (time.monotonic(), snapshot)
    return snapshot


def clear_catalog_cache(**_signal_arguments) -> None:
    global _cached
    _cached = None


def _cache_seconds() -> float:
    return float(getattr(settings, "SEARCH_CATALOG_CACHE_SECONDS", DEFAULT_CACHE_SECONDS))


def _load_snapshot() -> SnapshotResolver:
    gpus = [
        GpuRow(id=pk, name=name, vendor=vendor, compute_capability=capability)
        for pk, name, vendor, capability in GpuModel.objects.values_list(
            "id", "name", "vendor", "compute_capability"
        )
    ]
    providers = [
        ProviderRow(id=pk, slug=slug) for pk, slug in Provider.objects.values_list("id", "slug")
    ]
    return SnapshotResolver(gpus, providers)


def connect_cache_invalidation() -> None:
    """Drop the cache when this process saves or deletes a GPU model or provider.
    Called from MarketplaceConfig.ready; dispatch_uid makes a second call a no-op."""
    for model in (GpuModel, Provider):
        for signal in (post_save, post_delete):
            signal.connect(
                clear_catalog_cache, sender=model, dispatch_uid=f"search-catalog-{model.__name__}"
            )
