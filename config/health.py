"""/healthz: the database, Redis and a live Celery worker, each with its own verdict.

The public gets the status only (200 or 503): the checks' messages name hosts, ports and
errors. Staff, or a caller with `HEALTHZ_TOKEN` (`Authorization: Bearer <token>`), get each
check. The worker ping is a broadcast that waits up to a second for a first answer: its
verdict is cached for `HEALTHZ_WORKER_CACHE_SECONDS`, so polling /healthz hard does not
flood the workers.
"""

from __future__ import annotations

import contextlib
import hmac

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse

from config.celery import app as celery_app


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _check_redis() -> str:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
    client.ping()
    return "ok"


WORKER_CACHE_KEY = "healthz:worker"


def _check_worker() -> str:
    cached = None
    with contextlib.suppress(Exception):  # Redis down: the redis check says so; ping anyway
        cached = cache.get(WORKER_CACHE_KEY)
    if cached is None:
        cached = _ping_workers()
        with contextlib.suppress(Exception):
            cache.set(WORKER_CACHE_KEY, cached, settings.HEALTHZ_WORKER_CACHE_SECONDS)
    if not cached.startswith("ok"):
        raise RuntimeError(cached)
    return cached


def _ping_workers() -> str:
    # The first answer is enough: waiting out the timeout for every worker's would hold one
    # health check in each cache window for the whole second.
    replies = celery_app.control.ping(timeout=1.0, limit=1)
    if not replies:
        return "no Celery worker answered a ping within 1 s"
    return "ok (a worker answered)"


CHECKS = {"database": _check_database, "redis": _check_redis, "worker": _check_worker}


def healthz(request):
    results, healthy = {}, True
    for name, check in CHECKS.items():
        try:
            results[name] = check()
        except Exception as exc:  # a health check reports every failure, whatever it is
            results[name] = f"error: {exc}"
            healthy = False
    body = {"status": "ok" if healthy else "unavailable"}
    if _may_see_detail(request):
        body["checks"] = results
    return JsonResponse(body, status=200 if healthy else 503)


def _may_see_detail(request) -> bool:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_staff:
        return True
    token = settings.HEALTHZ_TOKEN
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    return bool(token) and hmac.compare_digest(given.encode(), token.encode())
