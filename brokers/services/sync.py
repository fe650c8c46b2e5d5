"""Refresh pricing: run a source, normalise its rows, upsert offers, record the sync."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta

from django.utils import timezone

from brokers.models import PriceSync, SyncStatus
from brokers.registry import UnknownIntegration, get_source
from brokers.services.batch_writer import BatchWriter
from brokers.services.normalise import Normaliser, RowProblem
from brokers.sources.base import OfferRow, PricingSource, RowError
from marketplace.models import Offer, Provider
from marketplace.services.offers import (
    OfferInput,
    UpsertCounts,
    offers_mark_stale,
    offers_withdraw_unseen,
)
from marketplace.services.price_sanity import offers_flag_suspects

logger = logging.getLogger(__name__)
BATCH_SIZE = 5000  # rows in memory at once, and offers per upsert transaction
MAX_RECORDED_ERRORS = 500
RECENT_SYNCS = 20  # how far back "the providers a source feeds" looks


def _batched(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


class SyncRun:
    """One run of one source: reads its rows in batches, keeps the counts and errors."""

    def __init__(self, sync: PriceSync, source: PricingSource) -> None:
        self.sync, self.source = sync, source
        self.normaliser = Normaliser()
        self.counts = UpsertCounts()
        self.errors: list[dict] = []
        self.error_count = 0
        self.source_failed = False  # a request or file failed: the run saw only part

    def load(self, rows: Iterable[OfferRow | RowError], on_progress) -> None:
        writer = BatchWriter(observed_at=self.sync.started_at)
        try:
            for batch in _batched(rows, BATCH_SIZE):
                writer.submit([offer for item in batch if (offer := self._offer(item)) is not None])
                if on_progress:
                    on_progress(self.sync.rows_read)
        finally:
            try:
                writer.close()  # waits for the last batch; raises the writer's error
            finally:
                self.counts.add(writer.counts)

    def _offer(self, item: OfferRow | RowError) -> OfferInput | None:
        if isinstance(item, RowError):
            self.source_failed = self.source_failed or item.where.startswith(("http", "source"))
            self.error(item.where, item.reason)
            return None
        self.sync.rows_read += 1
        try:
            return self.normaliser.normalise(item)
        except RowProblem as problem:
            where = " ".join(p for p in (item.provider, item.sku, item.region, item.pricing) if p)
            self.error(where, str(problem))
            return None

    def error(self, where: str, reason: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_RECORDED_ERRORS:
            self.errors.append({"where": where, "reason": reason})


def refresh_source(
    *, source_name: str, path: str | None = None, on_progress: Callable[[int], None] | None = None
) -> PriceSync:
    """Run one pricing source now: upsert what it lists, withdraw what a complete run no
    longer lists, mark old offers stale, judge the prices of the GPU classes it touched.

    A failing source (HTTP error, timeout, unreadable file, or an unexpected error) leaves
    a `failed` or `partial` sync record with the reason and withdraws nothing; it never
    raises, so the next source goes on.
    """
    source = get_source(source_name)
    sync = PriceSync.objects.create(source=source_name, path=path or "", started_at=timezone.now())
    run = SyncRun(sync, source)
    try:
        run.load(_guarded(source.fetch(path=path), source_name), on_progress)
    except Exception as exc:  # a bug or an outage must not leave the record "running"
        logger.exception("price sync crashed", extra={"source": source_name, "sync_id": sync.pk})
        run.source_failed = True
        run.error(f"source {source_name}", f"{type(exc).__name__}: {exc}")
    _after_load(run)
    return _finish(run)


def _guarded(rows: Iterator[OfferRow | RowError], source_name: str) -> Iterator:
    """The source's rows; an error the source raises (a bug, an unforeseen input) ends them
    with a source-level RowError, so that the rows read before it are still written."""
    try:
        yield from rows
    except Exception as exc:
        logger.exception("pricing source crashed", extra={"source": source_name})
        yield RowError(where=f"source {source_name}", reason=f"{type(exc).__name__}: {exc}")


def _after_load(run: SyncRun) -> None:
    sync, source, seen = run.sync, run.source, run.normaliser.providers.ids
    if source.complete and not run.source_failed and seen:
        run.counts.withdrawn = offers_withdraw_unseen(provider_ids=seen, seen_since=sync.started_at)
    # A source that failed this time still ages the offers it gave before.
    provider_ids = sorted(set(seen) | set(source_provider_ids(sync.source)))
    sync.stale = offers_mark_stale(
        provider_ids=provider_ids, max_age=timedelta(seconds=source.freshness_limit_seconds)
    )
    counts = run.counts
    # Verdicts depend on prices, statuses and bid-floor flags only: an unchanged run cannot
    # move them (offers listed through the provider API are judged by the beat upkeep).
    if counts.created or counts.updated or counts.withdrawn or sync.stale:
        suspects = offers_flag_suspects(gpu_ids=_gpu_ids_of(provider_ids))
        sync.suspect_flagged, sync.suspect_cleared = suspects.flagged, suspects.cleared


def _gpu_ids_of(provider_ids: list[int]) -> set[int]:
    """The GPU classes whose reference this run may have moved: every class these providers
    list (new, repriced, withdrawn or stale offers alike)."""
    return set(
        Offer.objects.filter(provider_id__in=provider_ids, gpu__isnull=False)
        .values_list("gpu_id", flat=True)
        .distinct()
    )


def source_provider_ids(source_name: str, *, recent_syncs: int = RECENT_SYNCS) -> set[int]:
    """Providers a source has fed in its recent runs (a source may feed many: skypilot)."""
    slugs: set[str] = set()
    recent = PriceSync.objects.filter(source=source_name).order_by("-started_at")
    for providers in recent.values_list("providers", flat=True)[:recent_syncs]:
        slugs.update(providers or ())
    return set(Provider.objects.filter(slug__in=slugs).values_list("pk", flat=True))


def offers_upkeep() -> dict[str, int]:
    """Beat: age the offers of every source that has run (one that stopped running would
    otherwise never see its offers go stale), then judge every GPU class's prices again
    (offers listed through the provider API, and classes whose offers just went stale)."""
    stale = 0
    for name in PriceSync.objects.values_list("source", flat=True).distinct().order_by():
        try:
            limit = get_source(name).freshness_limit_seconds
        except UnknownIntegration:
            continue  # a source since removed from the registry
        stale += offers_mark_stale(
            provider_ids=source_provider_ids(name), max_age=timedelta(seconds=limit)
        )
    suspects = offers_flag_suspects()
    return {"stale": stale, "suspect_flagged": suspects.flagged, "cleared": suspects.cleared}


def _finish(run: SyncRun) -> PriceSync:
    sync, counts, normaliser = run.sync, run.counts, run.normaliser
    sync.created, sync.updated = counts.created, counts.updated
    sync.unchanged, sync.withdrawn = counts.unchanged, counts.withdrawn
    sync.rows_skipped = normaliser.skipped
    sync.unknown_labels = dict(normaliser.unknown_labels)
    sync.providers = sorted(normaliser.providers.slugs)
    sync.errors = run.errors
    stored = counts.created + counts.updated + counts.unchanged
    if run.error_count and not stored:
        sync.status = SyncStatus.FAILED
    else:
        sync.status = SyncStatus.PARTIAL if run.error_count else SyncStatus.SUCCEEDED
    sync.finished_at = timezone.now()
    sync.save()
    logger.info(
        "price sync finished",
        extra={"source": sync.source, "sync_id": sync.pk, "status": sync.status},
    )
    return sync
