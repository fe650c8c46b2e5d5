"""Write a sync's batches of offers on a thread of their own, while the next batch is read.

Reading a catalog (CSV parsing, Decimal arithmetic, normalisation) is Python work; writing
it is PostgreSQL work in another process. Done one after the other, each waits for the
other; with the writes on a thread, PostgreSQL writes batch n while Python reads batch n+1
(psycopg releases the GIL while it waits on the server). The calling thread also turns each
batch into COPY text (`offer_batch_prepare`), so the writer thread does almost no Python
work: a thread that wakes from I/O waits for the GIL behind the reader (up to the 5 ms switch
interval), so it should wake as few times as possible. The queue holds one batch, so at most
three are in memory: one being read, one queued, one being written.

The writer thread has its own database connection, which cannot see the caller's
uncommitted rows: inside a transaction (a test, or a caller's `atomic`), batches are written
in the calling thread instead, one after the other, with the same result.
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Sequence
from datetime import datetime

from django.db import connection

from marketplace.services.offers import (
    OfferInput,
    PreparedBatch,
    UpsertCounts,
    offer_batch_prepare,
    offer_upsert_prepared,
)

_DONE = None
# While the writer runs: how long the reading thread may hold the GIL before the writer,
# woken by the server's answer, gets it back. Python's default (5 ms) leaves the writer
# idle most of the time: a first refresh of 100,000 offers took 8.6 s with it, 6.2 s with
# 0.5 ms (bench/refresh.py, 2 CPUs). Process-wide, so it is restored when the writer stops.
WRITER_SWITCH_INTERVAL = 0.0005


class BatchWriter:
    def __init__(self, *, observed_at: datetime, threaded: bool | None = None) -> None:
        self.observed_at = observed_at
        self.counts = UpsertCounts()
        self.threaded = not connection.in_atomic_block if threaded is None else threaded
        self._error: BaseException | None = None  # the writer's, kept: it stops the writes
        self._error_raised = False
        self._queue: queue.Queue = queue.Queue(maxsize=1)
        self._thread: threading.Thread | None = None
        self._switch_interval = sys.getswitchinterval()
        if self.threaded:
            sys.setswitchinterval(min(self._switch_interval, WRITER_SWITCH_INTERVAL))
            self._thread = threading.Thread(target=self._run, name="offer-writer", daemon=True)
            self._thread.start()

    def submit(self, batch: Sequence[OfferInput]) -> None:
        """Queue a batch (waits while the previous one is still queued). Raises the writer's
        error, if it had one, so that the caller stops reading."""
        self._raise_error()
        prepared = offer_batch_prepare(batch=batch)
        if self._thread is None:
            self._write(prepared)
            self._raise_error()
        else:
            self._queue.put(prepared)

    def close(self) -> None:
        """Wait for every batch to be written; raise the writer's error, if any."""
        if self._thread is not None:
            self._queue.put(_DONE)
            self._thread.join()
            self._thread = None
            sys.setswitchinterval(self._switch_interval)
        self._raise_error()

    def _raise_error(self) -> None:
        if self._error is not None and not self._error_raised:
            self._error_raised = True  # once: `close` after a failed `submit` is quiet
            raise self._error

    def _run(self) -> None:
        try:
            while (prepared := self._queue.get()) is not _DONE:
                if self._error is None:  # after an error, drain: the reader must never block
                    self._write(prepared)
        finally:
            connection.close()  # this thread's own connection

    def _write(self, prepared: PreparedBatch) -> None:
        try:
            self.counts.add(offer_upsert_prepared(prepared=prepared, observed_at=self.observed_at))
        except BaseException as exc:  # handed to the reading thread
            self._error = exc
