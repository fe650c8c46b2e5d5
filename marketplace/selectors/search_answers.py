"""Search answers each process keeps, exactly as rendered, for as long as they are the answer.

Most searches repeat, and between two writes to the catalog the same search has the same
answer: a process keeps its rendered bytes with the catalog's version (a number every write
to the offers, providers or GPU models moves on: marketplace/migrations/0019) and serves them
again while the version is unchanged, for one small query instead of the search. An answer
is kept only outside a transaction (a transaction's reads can see its own uncommitted
writes) and never while a write is uncommitted (`catalog_version()` is NULL then). An age
(`observed<1h`) is measured from now: such an answer is kept until the first moment one of
its offers may age out of it, and not at all when time can add offers to it
(`observed>1h`; marketplace/search/ages.py). The filter's names are resolved against the
process's catalog snapshot (marketplace/search/resolver.py): an answer is also tied to the
snapshot it was resolved against, so that it is what the search would answer now in this
process.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection
from django.utils import timezone

from marketplace.search.resolver import catalog_snapshot

DEFAULT_ANSWERS_KEPT = 1024
# Per process; a single answer larger than a tenth of this is not kept.
DEFAULT_ANSWER_BYTES_KEPT = 32 * 1024 * 1024


def catalog_version() -> int | None:
    """The catalog's version now; None when nothing may be kept: inside a transaction, or
    while a write to the catalog is uncommitted."""
    if connection.in_atomic_block:
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT catalog_version()")
        return cursor.fetchone()[0]


@dataclass(frozen=True)
class _Answer:
    version: int
    catalog: object | None  # the snapshot the filter's names were resolved against, if any
    body: bytes
    until: datetime  # then it may no longer be the answer, though the catalog is unchanged


class SearchAnswers:
    """Rendered answers by key (what the answer depends on besides the catalog: the
    search's text, sort, page and media type), least recently used out first. Shared by a
    process's threads."""

    def __init__(self, *, entries: int, bytes_kept: int):
        self.entries = entries
        self.bytes_kept = bytes_kept
        self._answers: OrderedDict[tuple, _Answer] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple, version: int) -> bytes | None:
        with self._lock:
            answer = self._answers.get(key)
            if answer is None or answer.version != version:
                return None
            self._answers.move_to_end(key)
        if timezone.now() >= answer.until:
            return None
        if answer.catalog is not None and answer.catalog is not catalog_snapshot():
            return None
        return answer.body

    def put(
        self, key: tuple, version: int, catalog: object | None, body: bytes, *, until: datetime
    ) -> None:
        if len(body) * 10 > self.bytes_kept:
            return
        with self._lock:
            self._drop(key)
            self._answers[key] = _Answer(version, catalog, body, until)
            self._bytes += len(body)
            while len(self._answers) > self.entries or self._bytes > self.bytes_kept:
                self._drop(next(iter(self._answers)))

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._answers)

    def _drop(self, key: tuple) -> None:
        answer = self._answers.pop(key, None)
        if answer is not None:
            self._bytes -= len(answer.body)


def search_answers() -> SearchAnswers | None:
    """This process's answers; None when settings keep none (SEARCH_ANSWERS_KEPT = 0)."""
    global _answers
    entries = getattr(settings, "SEARCH_ANSWERS_KEPT", DEFAULT_ANSWERS_KEPT)
    if not entries:
        return None
    if _answers is None or _answers.entries != entries:
        _answers = SearchAnswers(
            entries=entries,
            bytes_kept=getattr(settings, "SEARCH_ANSWER_BYTES_KEPT", DEFAULT_ANSWER_BYTES_KEPT),
        )
    return _answers


_answers: SearchAnswers | None = None
