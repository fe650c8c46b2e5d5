"""A frozen clock for billing tests: T0 and whole seconds after it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import time_machine

T0 = datetime(2026, 7, 1, 8, 0, 0, tzinfo=UTC)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


@contextmanager
def frozen_at_t0() -> Iterator[Callable[[int], None]]:
    """Time stands at T0; the yielded function moves it to T0 + seconds."""
    with time_machine.travel(T0, tick=False) as traveller:
        yield lambda seconds: traveller.move_to(at(seconds))
