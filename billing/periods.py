"""Billing periods: calendar months in UTC, half-open [start, next start)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from common.errors import DomainError

_PERIOD = re.compile(r"([0-9]{4})-([0-9]{2})")


def month_start(moment: datetime) -> datetime:
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def next_month_start(moment: datetime) -> datetime:
    if moment.month == 12:
        return datetime(moment.year + 1, 1, 1, tzinfo=UTC)
    return datetime(moment.year, moment.month + 1, 1, tzinfo=UTC)


def previous_month_start(moment: datetime) -> datetime:
    return month_start(month_start(moment) - timedelta(days=1))


def parse_period(text: str) -> datetime:
    """`YYYY-MM` as the first instant of that month; DomainError `invalid_period` otherwise."""
    match = _PERIOD.fullmatch(text or "")
    if match is None or not 1 <= int(match[2]) <= 12 or int(match[1]) < 1:
        raise DomainError(
            "invalid_period", f"{text!r} is not a month written YYYY-MM (e.g. 2026-11)."
        )
    return datetime(int(match[1]), int(match[2]), 1, tzinfo=UTC)


def required_period(text: str | None) -> datetime:
    """The `period` query parameter of a month's export, which has no default."""
    if not text:
        raise DomainError("invalid_period", "The query parameter period (YYYY-MM) is required.")
    return parse_period(text)
