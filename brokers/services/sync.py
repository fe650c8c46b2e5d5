"""Refresh pricing: run a source, normalise its rows, upsert offers, record the sync."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import timedelta

from django.utils import timezone

from brokers.models import PriceSync, SyncStatus
from brokers.registry import UnknownIntegration, get_source
from brokers.services.batch_writer import BatchWriter
from brokers.services.feeds import (
    FeedCache,
    InputRecord,
    InputStatus,
    Reference,
    gone_input_names,
    reader_version,
)
from brokers.services.normalise import Normaliser, RowProblem
from brokers.services.sync_lock import source_sync_lock
from brokers.sources.base import OfferRow, PricingSource, RowError, SourceInput
from marketplace.models import Offer, Provider
from marketplace.services.offer_inputs import OfferInput
from marketplace.services.offer_lifecycle import (
    FeedTouch,
    offers_mark_stale,
    offers_touch_feeds,
    offers_withdraw_unseen_of_source,
)
from marketplace.services.offer_writer import UpsertCounts
from marketplace.services.price_sanity import offers_flag_suspects

logger = logging.getLogger(__name__)
# Rows in memory at once, split between the writers (batch_writer.py). Smaller batches let
# the writers finish sooner after the reader but keep the reader waiting longer on full
# queues: no faster overall (docs/refresh.md, Speed).
BATCH_SIZE = 10_000
# A run's first batch: the writers start on it while the reader reads the next, each batch
# twice the last up to BATCH_SIZE, so the writers are not idle while a full batch is read.
FIRST_BATCH_SIZE = 1_000
MAX_RECORDED_ERRORS = 500
RECENT_SYNCS = 20  # how far back "the providers a source feeds" looks


class SyncRun:
    """One run of one source: reads its changed inputs in batches, touches the offers of the
    unchanged ones, keeps the counts, the errors and a record per input."""

    def __init__(self, sync: PriceSync, source: PricingSource, reference: Reference) -> None:
        self.sync, self.source, self.reference = sync, source, reference
        self.normaliser = Normaliser()
        self.feeds = FeedCache(source.name)
        self.counts = UpsertCounts()
        self.errors: list[dict] = []
        self.error_count = 0
        self.carried_skipped = 0  # CPU-only rows of unchanged inputs
        self.source_failed = False  # a request or file failed: the run saw only part
        self.records: list[InputRecord] = []
        self._record: InputRecord | None = None  # the input being read
        self._unchanged: dict[int, InputRecord] = {}  # feed id -> record
        self._pending: list[OfferInput] = []
        self._batch_size = min(FIRST_BATCH_SIZE, BATCH_SIZE)  # grows to BATCH_SIZE

    def load(self, path: str | None, on_progress) -> None:
        writer = BatchWriter(observed_at=self.sync.started_at)
        try:
            inputs = self.source.inputs(path=path, previous=self.reference.fingerprints)
            for source_input in _guarded_inputs(inputs, self.source.name):
                record = self.reference.unchanged(source_input.name, source_input.fingerprint)
                if record is not None and self._system_providers_only(record):
                    self._carry(record)
                else:
                    self._read(source_input, writer, on_progress)
            self._submit(writer)
        finally:
            try:
                writer.close()  # waits for the last batch; raises the writer's error
            finally:
                self.counts.add(writer.counts)
        self._touch_unchanged()

    # -- inputs that changed: read, normalise, write ----------------------------------------

    def _read(self, source_input: SourceInput, writer: BatchWriter, on_progress) -> None:
        self._record = record = InputRecord(
            name=source_input.name,
            fingerprint=source_input.fingerprint,
            status=InputStatus.READ,
            reader=self.reference.version,
            read_in=self.sync.pk,
        )
        self.records.append(record)
        normaliser = self.normaliser
        normaliser.feed_id = None  # created with the input's first offer (FeedCache)
        skipped, labels = normaliser.skipped, normaliser.unknown_labels.copy()
        normaliser.input_providers = set()
        conflict_rows = normaliser.conflict_rows.total()
        for item in _guarded(source_input.read(), self.source.name):
            if (offer := self._offer(item)) is not None:
                self._pending.append(offer)
                if len(self._pending) >= self._batch_size:
                    self._submit(writer)
                    if on_progress:
                        on_progress(self.sync.rows_read)
        if on_progress:
            on_progress(self.sync.rows_read)
        record.rows_skipped = normaliser.skipped - skipped
        record.unknown_labels = dict(normaliser.unknown_labels - labels)
        record.providers = sorted(normaliser.input_providers)
        if normaliser.conflict_rows.total() > conflict_rows:
            # Whether these rows may be stored depends on who holds their slugs, not on the
            # input's bytes: read the input again next time, so they are once that is fixed.
            record.fingerprint = ""

    def _submit(self, writer: BatchWriter) -> None:
        if self._pending:
            writer.submit(self._pending)
            self._pending = []
            self._batch_size = min(self._batch_size * 2, BATCH_SIZE)

    def _offer(self, item: OfferRow | RowError) -> OfferInput | None:
        record = self._record
        if item.__class__ is RowError:
            self._row_error(item, record)
            return None
        self.sync.rows_read += 1
        record.rows_read += 1
        if self.normaliser.feed_id is None:
            self.normaliser.feed_id = self.feeds.id_for(record.name)
        try:
            offer = self.normaliser.normalise(item)
        except RowProblem as problem:
            where = " ".join(p for p in (item.provider, item.sku, item.region, item.pricing) if p)
            record.errors += 1
            self.error(where, str(problem))
            return None
        if offer is not None:
            record.offers += 1
        return offer

    def _row_error(self, item: RowError, record: InputRecord) -> None:
        record.errors += 1
        if item.where.startswith(("http", "source")):  # the input (or source) failed
            self.source_failed = True
            record.status, record.fingerprint = InputStatus.FAILED, ""
        self.error(item.where, item.reason)

    def error(self, where: str, reason: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_RECORDED_ERRORS:
            self.errors.append({"where": where, "reason": reason})

    # -- inputs that did not change: carried over, their offers touched -----------------------

    def _system_providers_only(self, reference: InputRecord) -> bool:
        """An input whose providers a listed provider holds now (a slug freed and taken) is
        read instead: its rows are skipped and reported as a read would."""
        providers = self.normaliser.providers
        return all(providers.id_for(slug) is not None for slug in reference.providers)

    def _carry(self, reference: InputRecord) -> None:
        record = reference.carried()
        self.records.append(record)
        self._unchanged[self.feeds.id_for(record.name)] = record
        for slug in record.providers:  # the run still lists offers for these providers
            self.normaliser.providers.id_for(slug)
        self.normaliser.unknown_labels.update(record.unknown_labels)
        self.carried_skipped += record.rows_skipped
        self.sync.rows_read += record.rows_read  # the catalog's rows, read now or before
        if record.errors:  # the rows are still bad: the run is as partial as a read would be
            self.error_count += record.errors - 1
            reason = f"{record.errors} row errors, unchanged since sync {record.read_in}"
            self.error(record.name, f"{reason} (listed there)")

    def _touch_unchanged(self) -> None:
        if not self._unchanged:
            return
        providers = self.normaliser.providers
        provider_ids = {providers.id_for(s) for r in self._unchanged.values() for s in r.providers}
        touches = offers_touch_feeds(
            feed_ids=list(self._unchanged),
            provider_ids=sorted(provider_ids),
            since=self.reference.sync.started_at,
            now=self.sync.started_at,
        )
        for feed_id, record in self._unchanged.items():
            touch = touches.get(feed_id, FeedTouch(0, 0))
            record.touched = touch.touched
            # Back from stale is a change (the price check runs), as when the input is read.
            self.counts.updated += touch.reactivated
            self.counts.unchanged += touch.touched - touch.reactivated

    def fail_inputs(self) -> None:
        """After a crash (a writer error): no input of this run can be trusted as written."""
        self.records = [r.failed() for r in self.records]

    @property
    def feed_ids(self) -> list[int]:
        """Feeds of the inputs this run had (read or unchanged)."""
        return [f for r in self.records if (f := self.feeds.known(r.name)) is not None]


ABANDONED = "the run stopped before it finished (its process ended)"


def refresh_source(
    *,
    source_name: str,
    path: str | None = None,
    on_progress: Callable[[int], None] | None = None,
    full: bool = False,
) -> PriceSync:
    """Run one pricing source now: upsert what it lists, withdraw what a complete run no
    longer lists, mark old offers stale, judge the prices of the GPU classes it touched.

    An input whose fingerprint is the one the last good sync recorded is not read: its
    offers are touched (seen again) in one statement. `full` reads every input anyway.

    A failing source (HTTP error, timeout, unreadable file, or an unexpected error) leaves
    a `failed` or `partial` sync record with the reason and withdraws nothing; it never
    raises, so the next source goes on. A sync of a source whose last sync still runs does
    not run: it leaves a `skipped` record (`sync_lock`).
    """
    source = get_source(source_name)
    with source_sync_lock(source_name) as locked:
        if not locked:
            return _skipped(source_name, path=path, full=full)
        _close_abandoned(source_name)
        return _run(source, source_name, path=path, on_progress=on_progress, full=full)


def _run(source: PricingSource, source_name: str, *, path, on_progress, full: bool) -> PriceSync:
    sync = PriceSync.objects.create(
        source=source_name, path=path or "", started_at=timezone.now(), full=full
    )
    version = reader_version()
    run = SyncRun(sync, source, Reference.of(source_name, version=version, full=full, before=sync))
    try:
        run.load(path, on_progress)
    except Exception as exc:  # a bug or an outage must not leave the record "running"
        logger.exception("price sync crashed", extra={"source": source_name, "sync_id": sync.pk})
        run.source_failed = True
        run.fail_inputs()
        run.error(f"source {source_name}", f"{type(exc).__name__}: {exc}")
    _after_load(run)
    return _finish(run)


def _close_abandoned(source_name: str) -> None:
    """Records of this source still `running` while we hold its lock belong to runs whose
    process died (a killed worker): nothing will finish them, so say so."""
    PriceSync.objects.filter(source=source_name, status=SyncStatus.RUNNING).update(
        status=SyncStatus.FAILED,
        finished_at=timezone.now(),
        errors=[{"where": f"source {source_name}", "reason": ABANDONED}],
    )


def _skipped(source_name: str, *, path: str | None, full: bool) -> PriceSync:
    """The record of a sync that did not run: another sync of the source holds its lock."""
    running = PriceSync.objects.filter(source=source_name, status=SyncStatus.RUNNING).first()
    reason = (
        f"sync #{running.pk} of this source is still running"
        if running
        else "another sync of this source is running"
    )
    now = timezone.now()
    sync = PriceSync.objects.create(
        source=source_name,
        path=path or "",
        full=full,
        status=SyncStatus.SKIPPED,
        started_at=now,
        finished_at=now,
        errors=[{"where": f"source {source_name}", "reason": reason}],
    )
    logger.info(
        "price sync skipped",
        extra={"source": source_name, "sync_id": sync.pk, "reason": reason},
    )
    return sync


def _guarded(rows: Iterator[OfferRow | RowError], source_name: str) -> Iterator:
    """The source's rows; an error the source raises (a bug, an unforeseen input) ends them
    with a source-level RowError, so that the rows read before it are still written."""
    try:
        yield from rows
    except Exception as exc:
        logger.exception("pricing source crashed", extra={"source": source_name})
        yield RowError(where=f"source {source_name}", reason=f"{type(exc).__name__}: {exc}")


def _guarded_inputs(inputs: Iterator[SourceInput], source_name: str) -> Iterator[SourceInput]:
    """The source's inputs; an error raised while finding the next one ends them with a
    failed input, as `_guarded` does for rows."""
    try:
        yield from inputs
    except Exception as exc:
        logger.exception("pricing source crashed", extra={"source": source_name})
        error = RowError(where=f"source {source_name}", reason=f"{type(exc).__name__}: {exc}")
        yield SourceInput(name=error.where, fingerprint="", read=lambda: iter((error,)))


def _after_load(run: SyncRun) -> None:
    sync, source, seen = run.sync, run.source, run.normaliser.providers.ids
    # A run that listed offers only for slugs that organizations hold still withdraws: the
    # offers an earlier run gave those providers are the cloud's, not theirs.
    listed_any = seen or run.normaliser.providers.conflicts
    if source.complete and not run.source_failed and listed_any:
        run.counts.withdrawn = _withdraw_unlisted(run)
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


def _withdraw_unlisted(run: SyncRun) -> int:
    """A complete run withdraws its own source's offers it did not list: those of its
    inputs, of the inputs the same path had last time and no longer has, and (for a run of
    part of a catalog) of the source's other inputs for the providers it listed."""
    present = {r.name for r in run.records}
    gone = gone_input_names(run.sync.source, sync=run.sync, present=present)
    gone_feeds = [f for name in gone if (f := run.feeds.known(name)) is not None]
    return offers_withdraw_unseen_of_source(
        feed_ids=run.feed_ids + gone_feeds,
        source_feed_ids=run.feeds.all_ids,
        provider_ids=run.normaliser.providers.ids,
        seen_since=run.sync.started_at,
    )


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
    # System providers only: a listed provider that holds one of these slugs now keeps its
    # offers fresh through its API, and a source must not age them.
    return set(Provider.objects.system().filter(slug__in=slugs).values_list("pk", flat=True))


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
    sync.rows_skipped = normaliser.skipped + run.carried_skipped
    sync.inputs = [r.to_json() for r in run.records]
    sync.unknown_labels = dict(normaliser.unknown_labels)
    sync.providers = sorted(normaliser.providers.slugs)
    conflicts = _conflict_errors(normaliser, sync)
    sync.errors = conflicts + run.errors  # first: MAX_RECORDED_ERRORS must not hide them
    error_count = run.error_count + len(conflicts)
    stored = counts.created + counts.updated + counts.unchanged
    if error_count and not stored:
        sync.status = SyncStatus.FAILED
    else:
        sync.status = SyncStatus.PARTIAL if error_count else SyncStatus.SUCCEEDED
    sync.finished_at = timezone.now()
    sync.save()
    logger.info(
        "price sync finished",
        extra={"source": sync.source, "sync_id": sync.pk, "status": sync.status},
    )
    return sync


def _conflict_errors(normaliser: Normaliser, sync: PriceSync) -> list[dict]:
    """One error per slug whose rows were not stored because an organization's provider
    holds it (`ProviderCache`): an operator renames that provider, or the cloud's."""
    errors = []
    for slug, holder in sorted(normaliser.providers.conflicts.items()):
        rows = normaliser.conflict_rows[slug]
        owner = f"organization #{holder.org_id}" if holder.org_id else f"kind {holder.kind}"
        reason = (
            f"the slug belongs to provider #{holder.pk} of {owner}, not to a cloud: "
            f"{rows} rows not stored"
        )
        errors.append({"where": f"provider {slug}", "reason": reason})
        logger.warning(
            "price sync skipped a provider slug held by an organization",
            extra={"source": sync.source, "sync_id": sync.pk, "slug": slug,
                   "provider_id": holder.pk, "rows": rows},
        )  # fmt: skip
    return errors
