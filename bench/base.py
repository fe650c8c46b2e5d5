"""Shared pieces of the benchmarks: the command record, and the benchmark database,
`<DATABASE_URL's database>_bench`, created and migrated here so that a benchmark never
touches the development data."""

from __future__ import annotations

import argparse
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


class Report:
    """What a bench prints, kept to be written to bench/results/ once it is done."""

    def __init__(self):
        self.lines: list[str] = []

    def line(self, text: str = "") -> None:
        print(text, flush=True)
        self.lines.append(text)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(self.lines) + "\n")
        print(f"\nwritten to {path}")


class BenchError(RuntimeError):
    pass


@dataclass(frozen=True)
class BenchCommand:
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def bench_database_url(url: str | None = None, *, suffix: str = "_bench") -> str:
    """`<DATABASE_URL's database><suffix>`: a benchmark's own database (a benchmark that
    keeps a large catalog between runs takes a suffix of its own, so that another one
    emptying its tables does not cost it a rebuild)."""
    url = url or os.environ.get("DATABASE_URL", "")
    if not url:
        raise BenchError("DATABASE_URL is not set: run benchmarks through `make bench`")
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name:
        raise BenchError("DATABASE_URL must name a database")
    bench_name = name if name.endswith(suffix) else f"{name}{suffix}"
    return urlunsplit((parts.scheme, parts.netloc, "/" + bench_name, parts.query, ""))


def ensure_database(url: str) -> None:
    """CREATE DATABASE if it does not exist (through the server's `postgres` database)."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, ""))
    with psycopg.connect(admin, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if exists.fetchone() is None:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def setup_django(url: str) -> None:
    """Point Django at the benchmark database and migrate it (quietly)."""
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    # Production settings (DEBUG off, as measured) refuse to start without a key; a benchmark
    # signs nothing that outlives it.
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


def cpu_probe_seconds() -> float:
    """Seconds a fixed pure-Python loop takes now: this shared machine's speed varies by
    half from hour to hour, and figures from two runs compare only next to their probes."""
    import time

    started = time.perf_counter()
    total = 0
    for number in range(5_000_000):
        total += number
    return time.perf_counter() - started
