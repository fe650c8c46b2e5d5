"""Project-wide fixtures: API clients, factories, a real Celery worker process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # playwright + ORM in one test


@pytest.fixture(autouse=True)
def _gpu_catalog(request):
    """Transactional tests truncate every table, the GPU catalog included: put it back."""
    if not {"db", "transactional_db"} & set(
        request.fixturenames
    ) and not request.node.get_closest_marker("django_db"):
        return
    request.getfixturevalue(
        "db" if "transactional_db" not in request.fixturenames else "transactional_db"
    )
    from marketplace.search import clear_catalog_cache
    from marketplace.services.gpus import gpu_catalog_sync

    gpu_catalog_sync()
    clear_catalog_cache()  # truncation gave the GPUs new ids


@pytest.fixture(autouse=True)
def _own_cache(monkeypatch):
    """Each test reads and writes cache entries of its own (keys under a prefix nobody else
    uses, in every thread, the live server's too): a value one test cached (the home page's
    counts, a price index, the catalog's providers) never answers another, and nothing is
    flushed from the Redis database the test worker's queues share. The cache's classes are
    patched, not settings.CACHES: a change of that setting would replace the cache objects
    that tests patch (common/tests/test_ratelimit.py)."""
    from django.core.cache.backends.base import BaseCache

    prefix = f"test-{uuid.uuid4().hex}"
    make_key = BaseCache.make_key

    def own_key(self, key, version=None):
        return make_key(self, f"{prefix}:{key}", version)

    monkeypatch.setattr(BaseCache, "make_key", own_key)


@pytest.fixture
def rate_limits(settings, monkeypatch):
    """`rate_limits(write="3/min")`: low rates for this test, on counters of its own (no
    other test, nor an earlier run, has counted on them)."""
    from common import ratelimit

    monkeypatch.setattr(ratelimit, "KEY_PREFIX", f"ratelimit-test-{uuid.uuid4().hex}")

    def set_rates(**rates: str) -> None:
        settings.RATE_LIMITS = {**settings.RATE_LIMITS, **rates}

    return set_rates


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def buyer(db):
    from tests.factories import make_org_with_key

    return make_org_with_key(role="buyer")


def _test_database_url() -> str:
    from django.conf import settings
    from django.db import connection

    parts = urlsplit(settings.DATABASE_URL)
    return urlunsplit((parts.scheme, parts.netloc, "/" + connection.settings_dict["NAME"], "", ""))


def _wait_for_worker(app, name: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"celery worker exited with {process.returncode}")
        if app.control.ping(destination=[name], timeout=0.5):
            return
    raise RuntimeError("celery worker did not answer a ping in time")


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker):
    """A real `celery worker` process on the test database and the test Redis database."""
    import redis
    from django.conf import settings

    from config.celery import app

    redis.Redis.from_url(settings.REDIS_URL).flushdb()  # no leftover messages from earlier runs
    name = f"test-{uuid.uuid4().hex[:8]}@localhost"
    env = {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
    }
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "-l",
        "warning",
        "--concurrency",
        "2",
        "-n",
        name,
        "--without-mingle",
        "--without-gossip",
    ]
    process = subprocess.Popen(command, env=env, start_new_session=True)
    try:
        _wait_for_worker(app, name, process)
        yield process
    finally:
        _stop_worker(process)


@pytest.fixture
def celery_worker_factory(django_db_setup):
    """Start extra `celery worker` processes for one test: `start(queue=..., env={...})`
    returns the process (its own session, so `os.killpg` takes the pool children too).
    Each consumes only its queue, so a session worker never takes the test's tasks."""
    from config.celery import app

    started: list[subprocess.Popen] = []

    def start(*, queue: str, env: dict | None = None, concurrency: int = 1) -> subprocess.Popen:
        name = f"test-{uuid.uuid4().hex[:8]}@localhost"
        command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "warning",
                   "--concurrency", str(concurrency), "-n", name, "-Q", queue,
                   "--without-mingle", "--without-gossip"]  # fmt: skip
        full_env = {
            **os.environ,
            "DATABASE_URL": _test_database_url(),
            "DJANGO_SETTINGS_MODULE": "config.settings_test",
            **(env or {}),
        }
        process = subprocess.Popen(command, env=full_env, start_new_session=True)
        started.append(process)
        _wait_for_worker(app, name, process)
        return process

    yield start
    for process in started:
        _stop_worker(process)


def _stop_worker(process: subprocess.Popen) -> None:
    """Stop a worker and its pool children (its own process group): warm, then cold."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_until(predicate, *, timeout: float = 30, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium driven by Playwright (Playwright cannot download browsers here)."""
    import shutil

    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("chromium is not installed (make browser-deps installs it as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    yield context.new_page()
    context.close()
