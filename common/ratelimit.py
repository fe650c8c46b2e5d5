"""Rate limits, counted in Redis (the cache) so that every process shares them.

A limit is a scope (`search`, `read`, `write`, `reserve`, `auth`, ...) whose rate comes from
`settings.RATE_LIMITS` (`"300/min"`, `"5/15min"`), counted per ident: an API key, a user, an
address or an e-mail (`key_ident`, `user_ident`, `address_ident`, `email_ident`). The API's
throttle (`common.api.throttles`), the pages' middleware and the sign-in guard
(`common.page_limits`) all count here; docs/api.md, "Limits", says which scope applies where.

Each scope and ident has a counter per period-long window, and a request is allowed while
the previous window's count, weighted by the share of it still inside the last period, plus
the current window's stays within the limit (the "sliding window counter"). Unlike fixed
windows it lets no burst of twice the limit across a window's edge, and unlike a log of
timestamps (DRF's throttles) it is one atomic INCR per request, exact under concurrency;
the INCRs of all a request's limits and the reads of their previous windows go to Redis
in one pipeline, one round trip.

Rates are read from settings at each call, so a test's `settings` fixture changes them. When
Redis cannot be reached the request is allowed and the error logged: the limits protect the
site, and a cache outage must not take it down with them.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import logging
import math
import re
import time
from dataclasses import dataclass

import redis
from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

KEY_PREFIX = "ratelimit"  # tests give each test a prefix of its own
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}
_RATE = re.compile(r"\s*(\d+)\s*/\s*(\d*)\s*([a-z]+?)s?\s*")
_CACHE_ERRORS = (redis.RedisError, OSError)

# A limit: (scope, ident).
Limit = tuple[str, str]


@dataclass(frozen=True)
class Rate:
    limit: int  # requests
    period: int  # seconds


@functools.lru_cache(maxsize=64)
def parse_rate(text: str) -> Rate:
    """`"600/min"`, `"5/15min"`, `"30/h"`, `"1000/day"` -> Rate(limit, period in seconds)."""
    match = _RATE.fullmatch(text.lower())
    limit, multiple = (int(match[1]), int(match[2] or 1)) if match else (0, 0)
    if not match or match[3] not in _UNITS or limit < 1 or multiple < 1:
        raise ValueError(
            f"must be a rate such as 100/min or 5/15min (s, min, h, day), got {text!r}"
        )
    return Rate(limit=limit, period=multiple * _UNITS[match[3]])


def valid_rate(text: str) -> str:
    """A rate setting as given, once `parse_rate` accepts it (settings refuse a bad one)."""
    parse_rate(text)
    return text.strip()


def rate_for(scope: str) -> Rate:
    return parse_rate(settings.RATE_LIMITS[scope])


def key_ident(api_key) -> str:
    return f"key:{api_key.pk}"


def user_ident(user) -> str:
    return f"user:{user.pk}"


def address_ident(address: str) -> str:
    """An IPv6 client is counted by its /64, the block one subscriber gets: counting single
    addresses would give it 2**64 budgets."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"ip:{address}"
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.version == 6:
        return f"ip:{ipaddress.ip_network(f'{ip}/64', strict=False)}"
    return f"ip:{ip}"


def email_ident(email: str) -> str:
    return f"email:{email.strip().lower()}"


def now() -> float:
    return time.time()


def hit(*limits: Limit) -> int | None:
    """Count one request against each limit. None when all of them allow it; else the seconds
    to wait before one more would be allowed, and then it counts against none of them.
    One round trip to Redis however many limits (two when one refuses)."""
    try:
        windows = [_Window(scope, ident) for scope, ident in limits]
        currents = _increment(windows)
        waits = [
            window.wait(current - 1)
            for window, current in zip(windows, currents, strict=True)
            if window.estimate(current) > window.rate.limit
        ]
        if waits:
            _decrement(windows)
            return max(waits)
    except _CACHE_ERRORS:
        logger.exception("rate limits not counted: the cache failed")
    return None


def peek(*limits: Limit) -> int | None:
    """What `hit` would answer, counting nothing: for limits counted only on failure."""
    try:
        windows = [_Window(scope, ident) for scope, ident in limits]
        counts = cache.get_many([key for w in windows for key in (w.key, w.previous_key)])
        waits = []
        for window in windows:
            current = counts.get(window.key, 0)
            window.previous_count = counts.get(window.previous_key, 0)
            if window.estimate(current + 1) > window.rate.limit:
                waits.append(window.wait(current))
        return max(waits) if waits else None
    except _CACHE_ERRORS:
        logger.exception("rate limits not read: the cache failed")
    return None


def _increment(windows: list[_Window]) -> list[int]:
    """Each window's counter after counting one, its previous window's count read on the
    way: one pipeline. A counter lives two periods: through its own window, then as the
    previous one (the SET that creates it sets its expiry; INCR keeps it)."""
    pipe = _redis().pipeline(transaction=False)
    for window in windows:
        key = cache.make_key(window.key)
        pipe.set(key, 0, ex=2 * window.rate.period, nx=True)
        pipe.incr(key)
        pipe.get(cache.make_key(window.previous_key))
    answers = pipe.execute()
    currents = []
    for index, window in enumerate(windows):
        _, current, previous = answers[3 * index : 3 * index + 3]
        window.previous_count = int(previous or 0)
        currents.append(current)
    return currents


def _decrement(windows: list[_Window]) -> None:
    pipe = _redis().pipeline(transaction=False)
    for window in windows:
        pipe.decr(cache.make_key(window.key))
    pipe.execute()


def _redis():
    """The cache's own Redis client (the counters are the cache's keys, which `peek`,
    `record` and `clear` read through the cache API)."""
    return cache._cache.get_client(write=True)


def record(*limits: Limit) -> None:
    """Count one event (a failed sign-in) against each limit, refusing nothing."""
    try:
        for scope, ident in limits:
            _Window(scope, ident).increment()
    except _CACHE_ERRORS:
        logger.exception("rate limits not counted: the cache failed")


def clear(*limits: Limit) -> None:
    try:
        for scope, ident in limits:
            window = _Window(scope, ident)
            cache.delete_many([window.key, window.previous_key])
    except _CACHE_ERRORS:
        logger.exception("rate limits not cleared: the cache failed")


class _Window:
    """The counters of one scope and ident at this moment: the current window's and the
    previous one's. The ident is hashed: keys never hold an e-mail or an address."""

    def __init__(self, scope: str, ident: str):
        self.rate = rate_for(scope)
        moment = now()
        index, self.elapsed = divmod(moment, self.rate.period)
        digest = hashlib.sha256(ident.encode()).hexdigest()[:32]
        base = f"{KEY_PREFIX}:{scope}:{digest}"
        self.key = f"{base}:{int(index)}"
        self.previous_key = f"{base}:{int(index) - 1}"
        self.previous_count: int | None = None  # read along with the current count

    def increment(self) -> int:
        if cache.add(self.key, 1, timeout=2 * self.rate.period):
            return 1
        return cache.incr(self.key)

    def previous(self) -> int:
        if self.previous_count is None:
            self.previous_count = cache.get(self.previous_key, 0)
        return self.previous_count

    def estimate(self, current: int) -> float:
        weight = 1 - self.elapsed / self.rate.period
        return self.previous() * weight + current

    def wait(self, current: int) -> int:
        """Whole seconds until one more request is allowed, if no other comes meanwhile;
        `current` leaves out the refused one."""
        limit, period, prev = self.rate.limit, self.rate.period, self.previous()
        room = limit - 1 - current  # what the previous window's weighted count must fall to
        if room >= 0:
            # This window still has room: wait for the previous one to weigh less.
            seconds = period * (1 - room / prev) - self.elapsed if prev else 0
        else:
            # This window alone is full: wait for it to end, then to weigh less in turn.
            fall = period * (1 - (limit - 1) / current)
            seconds = period - self.elapsed + min(fall, period)
        return max(1, math.ceil(round(seconds, 6)))  # 10.000000000000002 is 10
