"""Strict environment helpers: a malformed value stops start-up with the variable's name.

Learned from healthchecks' settings: better to refuse to start than to run with a
half-understood configuration.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")


class ConfigError(Exception):
    pass


def env_str(name: str, default: str | None = None) -> str:
    value = os.environ.get(name)
    if value is None or value == "":
        if default is None:
            raise ConfigError(f"{name} must be set")
        return default
    return value


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be a boolean (true/false/1/0), got {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def env_decimal(
    name: str, default: str, *, minimum: str | None = None, maximum: str | None = None
) -> Decimal:
    raw = os.environ.get(name) or default
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ConfigError(f"{name} must be a decimal number, got {raw!r}") from None
    if not value.is_finite():
        raise ConfigError(f"{name} must be a finite number, got {raw!r}")
    if minimum is not None and value < Decimal(minimum):
        raise ConfigError(f"{name} must be >= {minimum}, got {raw!r}")
    if maximum is not None and value > Decimal(maximum):
        raise ConfigError(f"{name} must be <= {maximum}, got {raw!r}")
    return value


def env_list(name: str, default: str) -> list[str]:
    raw = os.environ.get(name) or default
    return [item.strip() for item in raw.split(",") if item.strip()]


def seconds_list(raw: str) -> list[int]:
    """ "86400, 259200" -> [86400, 259200]: positive whole seconds, comma-separated."""
    try:
        values = [int(item) for item in raw.split(",") if item.strip()]
    except ValueError:
        raise ValueError(f"must be whole seconds separated by commas, got {raw!r}") from None
    if not values or min(values) <= 0:
        raise ValueError(f"must list one or more positive numbers of seconds, got {raw!r}")
    return values


def env_parsed(name: str, default: str, parse: Callable[[str], T]) -> T:
    """The variable (or `default`) read by `parse`, whose ValueError stops start-up naming
    the variable: `parse` says what is wrong, this says where."""
    raw = os.environ.get(name) or default
    try:
        return parse(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} {exc}") from None


def env_url(name: str, default: str, *, schemes: tuple[str, ...]) -> str:
    raw = env_str(name, default)
    parts = urlsplit(raw)
    if parts.scheme not in schemes or not (parts.hostname or parts.path):
        raise ConfigError(f"{name} must be a URL with scheme {'/'.join(schemes)}, got {raw!r}")
    return raw


def database_from_url(name: str, url: str) -> dict:
    """Django DATABASES entry from a postgresql:// URL (the only engine we support)."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ConfigError(f"{name} must be a postgresql:// URL, got scheme {parts.scheme!r}")
    database = parts.path.lstrip("/")
    if not database:
        raise ConfigError(f"{name} must name a database, e.g. postgresql://host/gpumarket")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"{name} has a malformed port") from None
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": database,
        "USER": parts.username or "postgres",
        "PASSWORD": parts.password or "",
        "HOST": parts.hostname or "",
        "PORT": str(port or ""),
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
        # Our queries are short and indexed; PostgreSQL's JIT spent up to 900 ms compiling
        # plans the quote engine then ran in milliseconds. The catalog lives in memory or on
        # SSD, where a random page costs about what a sequential one does: the default (4,
        # for spinning disks) had the planner sort thousands of bitmap-fetched rows where
        # walking an index in order reads a few pages (bench/search.py: p99 -10 %).
        "OPTIONS": {"options": "-c jit=off -c random_page_cost=1.1"},
    }
