"""Time as the API writes it: aware UTC, ISO 8601, ending in Z."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_z(moment: datetime | None) -> str | None:
    """`2026-12-05T09:00:00Z` (microseconds kept when there are any); None stays None."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
