"""Write a sync's batches of offers on threads of their own, while the next batch is read.

Reading a catalog (CSV parsing, Decimal arithmetic, normalisation) is Python work; writing
it is PostgreSQL work in other processes. Done one after the other, each waits for the
other; with the writes on threads, PostgreSQL writes batch n while Python reads batch n+1
(psycopg releases the GIL while it waits on the server). The calling thread also turns each
batch into COPY text (`offer_batch_prepare`), so the writer threads do almost no Python
work: a thread that wakes from I/O waits for the GIL behind the reader (up to the switch
interval), so it should wake as few times as possible.

A first refresh is bound by the database (every new offer is an entry in each of the offer
table's indexes), so the writes go to
`WRITERS` connections at once: each batch is split between them by offer identity, so that
one offer is always written by the same writer, batch after batch, and two writers never
touch the same row (no lock waits, no deadlocks between them). Each writer's
queue holds one part, so at most three batches are in memory: one being read, one queued,
one being written.

A writer thread has its own database connection, which cannot see the caller's uncommitted
rows: inside a transaction (a test, or a caller's `atomic`), batches are written in the
calling thread instead, one after the other, with the same result.
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Sequence
from datetime import datetime

from django.db import connection

from marketplace.services.offer_inputs import OfferInput
from marketplace.services.offer_writer import (
    PreparedBatch,
    UpsertCounts,
    offer_batch_prepare,
    offer_upsert_prepared,
)

_DONE = None
# Writer threads (database connections) of one sync. Two keep a 2-CPU machine's PostgreSQL
# busy while Python parses; one is slower and three are no faster (docs/refresh.md, Speed).
WRITERS = 2
# While the writers run: how long the reading thread may hold the GIL before a writer, woken
# by the server's answer, gets it back. Python's default (5 ms) leaves the writer idle most
# of the time (docs/refresh.md, Speed). Process-wide, so it is restored when the writers stop.
WRITER_SWITCH_INTERVAL = 0.0005


class BatchWriter:
    def __init__(
        self, *, observed_at: datetime, threaded: bool | None = None, writers: int | None = None
    ) -> None:
        self.observed_at = observed_at
        self.counts = UpsertCounts()
        self.threaded = not connection.in_atomic_block if threaded is None else threaded
        self._error: BaseException | None = None  # a writer's, kept: it stops the writes
        self._error_raised = False
        self._lock = threading.Lock()  # counts and error, shared by the writers
        self._queues: list[queue.Queue] = []
        self._threads: list[threading.Thread] = []
        self._switch_interval = sys.getswitchinterval()
        self._expect_new = True  # the unthreaded writer's guess (see `_write`)
        if self.threaded:
            sys.setswitchinterval(min(self._switch_interval, WRITER_SWITCH_INTERVAL))
            for number in range(max(1, writers or WRITERS)):
                self._queues.append(queue.Queue(maxsize=1))
                self._threads.append(self._start(number))

    def _start(self, number: int) -> threading.Thread:
        thread = threading.Thread(
            target=self._run, args=(self._queues[number],), name=f"offer-writer-{number}"
        )
        thread.daemon = True
        thread.start()
        return thread

    def submit(self, batch: Sequence[OfferInput]) -> None:
        """Queue a batch (waits while a writer's previous part is still queued). Raises a
        writer's error, if there was one, so that the caller stops reading."""
        self._raise_error()
        if not self._threads:
            self._expect_new = self._write(offer_batch_prepare(batch=batch), self._expect_new)
            self._raise_error()
            return
        for part, writer_queue in zip(_split(batch, len(self._queues)), self._queues, strict=True):
            if part:
                writer_queue.put(offer_batch_prepare(batch=part))

    def close(self) -> None:
        """Wait for every batch to be written; raise a writer's error, if any."""
        if self._threads:
            for writer_queue in self._queues:
                writer_queue.put(_DONE)
            for thread in self._threads:
                thread.join()
            self._threads = []
            sys.setswitchinterval(self._switch_interval)
        self._raise_error()

    def _raise_error(self) -> None:
        if self._error is not None and not self._error_raised:
            self._error_raised = True  # once: `close` after a failed `submit` is quiet
            raise self._error

    def _run(self, writer_queue: queue.Queue) -> None:
        expect_new = True
        try:
            while (prepared := writer_queue.get()) is not _DONE:
                if self._error is None:  # after an error, drain: the reader must never block
                    expect_new = self._write(prepared, expect_new)
        finally:
            connection.close()  # this thread's own connection

    def _write(self, prepared: PreparedBatch, expect_new: bool) -> bool:
        """Write one batch; returns whether it was all new. A sync's batches come in runs:
        a first refresh or a new input is new throughout, a later refresh is not, so the
        next batch is expected to be like this one (`offer_upsert_prepared`'s shortcut for
        new offers is tried first on the first batch too: a wrong guess costs little)."""
        try:
            counts = offer_upsert_prepared(
                prepared=prepared, observed_at=self.observed_at, expect_new=expect_new
            )
        except BaseException as exc:  # handed to the reading thread
            with self._lock:
                self._error = self._error or exc
            return False
        with self._lock:
            self.counts.add(counts)
        return counts.created == prepared.rows


def _split(batch: Sequence[OfferInput], parts: int) -> list[list[OfferInput]]:
    """The batch in `parts` parts by offer identity (the same offer, the same part)."""
    if parts == 1:
        return [list(batch)]
    split: list[list[OfferInput]] = [[] for _ in range(parts)]
    for item in batch:
        split[hash(item.key) % parts].append(item)
    return split
