"""PRICING_SCHEDULE: which pricing sources Celery beat runs, each on its own interval.

Imports nothing of Django or of brokers' models: `config.settings` parses the variable with
it while settings are still being built.
"""

from __future__ import annotations

from typing import NamedTuple


class ScheduleEntry(NamedTuple):
    source: str
    seconds: float
    path: str  # "" = the source's own URL


def parse_pricing_schedule(raw: str) -> list[ScheduleEntry]:
    """ "source:seconds[:path or URL]" entries, comma-separated. The path may hold colons
    (a URL does): only the first two separate fields. ValueError for a malformed entry."""
    entries = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        source, _, rest = item.partition(":")
        seconds, _, path = rest.partition(":")
        try:
            interval = float(seconds)
        except ValueError:
            interval = 0.0
        if not source.strip() or not interval > 0:
            raise ValueError(
                f"entries must be source:seconds[:path] with seconds > 0, got {item!r}"
            )
        entries.append(ScheduleEntry(source.strip(), interval, path.strip()))
    return entries
