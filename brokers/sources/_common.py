"""Helpers every pricing source shares: numbers off the wire, settings, failure rows."""

from __future__ import annotations

import functools
import os
from decimal import Decimal, InvalidOperation
from typing import Any

from brokers.sources.base import RowError
from marketplace.money import quantize_rate


def parse_price(value: Any) -> Decimal:
    """A price as Decimal, 6 places. Floats go through str() so 0.36979999999999996 stays
    what the provider meant to an honest 6 places, not a binary expansion."""
    number = parse_decimal(value)
    if number is None:
        raise ValueError("price is empty")
    if number < 0:
        raise ValueError(f"price {value!r} is negative")
    return quantize_rate(number)  # rates keep 6 places: the one money helper


def parse_decimal(value: Any) -> Decimal | None:
    """A finite Decimal, or None for empty; ValueError for anything else."""
    if value.__class__ is str:
        return _decimal_from_text(value)
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    try:
        number = Decimal(value.strip()) if isinstance(value, str) else Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    return number


# Catalogs repeat the same few texts ("8", "80.0", "1.5") over thousands of rows; Decimal is
# immutable, so a parsed value can be handed out again. Errors are raised, never cached.
@functools.lru_cache(maxsize=16384)
def _decimal_from_text(text: str) -> Decimal | None:
    stripped = text.strip()
    if not stripped:
        return None
    try:
        number = Decimal(stripped)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{text!r} is not a finite number")
    return number


def parse_count(value: Any) -> int:
    """A whole count written as "8", "8.0" or 8.0; empty is 0."""
    number = parse_decimal(value)
    if number is None:
        return 0
    if number != number.to_integral_value() or number < 0:
        raise ValueError(f"{value!r} is not a whole count")
    return int(number)


def positive_price_or_none(value: Any) -> Decimal | None:
    """Empty or zero means "no such offer" in most catalogs; a real price otherwise."""
    number = parse_decimal(value)
    if number is None or number == 0:
        return None
    return parse_price(number)


def setting(name: str, default: Any = None) -> Any:
    """A Django setting when Django is configured and has it, else the environment variable
    of that name (`SKYPILOT_CATALOG_URL=...`), else `default`.
    Read lazily at fetch time, so the sources import without Django."""
    try:
        from django.conf import settings
    except ImportError:  # pragma: no cover - Django is a dependency
        settings = None
    if settings is not None and settings.configured:
        value = getattr(settings, name, None)
        if value is not None:
            return value
    return os.environ.get(name, default)


def source_failure(source_name: str, detail: str, reason: str) -> RowError:
    """A failure of the whole source (or of one of its files), not of a row. The sync
    pipeline treats `where` starting with "source" or "http" as "this run is incomplete":
    it then withdraws nothing."""
    return RowError(where=f"source {source_name}: {detail}", reason=reason)
