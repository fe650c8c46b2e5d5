"""`python -m bench request-cpu`: the app's own CPU time per catalog search and per quote.

What one request costs the web process, without HTTP, the web server or a load generator sharing
the cores: the load benchmark's mixes (bench/load.py, SEARCHES and QUOTES) are sent straight
to the WSGI application (config/wsgi.py) in this process, with the settings `make serve` runs (DEBUG off,
plain http on loopback, rate limits raised as the load benchmark raises them), against a
generated catalog (bench/catalog.py, 100k offers by default) in the benchmark's own database.

For each mix: CPU and wall milliseconds per request (median of rounds), the database
statements and Redis commands each request sends (each a round trip the process waits on),
then one round under cProfile (wall time, its overhead included): where the time goes by stage (the cumulative time of the
functions named in STAGES) and the top functions by their own time. CPU time is this
process's only: PostgreSQL's and Redis's are on the other side of the round trips.
Results: bench/results/request_cpu.txt.
"""

from __future__ import annotations

import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import time
from argparse import Namespace
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.base import (
    BenchCommand,
    BenchError,
    bench_database_url,
    cpu_probe_seconds,
    ensure_database,
    setup_django,
)
from bench.base import Report as BaseReport
from bench.load import HIGH_RATE_LIMITS, Request, quote_requests, search_requests

RESULTS = Path(__file__).resolve().parent / "results" / "request_cpu.txt"
# The settings `make serve` gives the app (devtools/supervisor.py), and the load bench's limits.
SERVE_SETTINGS = {"DEBUG": "false", "SECURE_SSL_REDIRECT": "false", "SECURE_COOKIES": "false"}
# Stages of a request: (label, file suffix, function name); a function's cumulative time
# includes what it calls, so stages nest (the view within DRF's dispatch, and so on).
STAGES = [
    ("WSGI handler, whole request", "django/core/handlers/wsgi.py", "__call__"),
    ("DRF dispatch (auth, throttle, view, errors)", "rest_framework/views.py", "dispatch"),
    ("  authentication", "rest_framework/request.py", "_authenticate"),
    ("  throttle (rate limits, Redis)", "common/api/throttles.py", "allow_request"),
    ("  content negotiation", "rest_framework/views.py", "perform_content_negotiation"),
    ("  search: compile the filter", "marketplace/search/compiler.py", "compile_filter"),
    ("  search: run the page query", "marketplace/selectors/catalog.py", "page"),
    ("  quote: the engine", "marketplace/quoting/engine.py", "quote_create"),
    ("  serialize the answer", "rest_framework/serializers.py", "data"),
    ("render JSON", "rest_framework/renderers.py", "render"),
    ("SQL: Django's execute", "django/db/backends/utils.py", "_execute"),
    ("SQL: connection checks (CONN_HEALTH_CHECKS)", "django/db/backends/base/base.py", "close_if_unusable_or_obsolete"),
    ("Redis: commands", "redis/client.py", "_execute_command"),
    ("Redis: pipelines", "redis/client.py", "execute"),
    ("logging", "logging/__init__.py", "handle"),
]  # fmt: skip


def add_arguments(parser) -> None:
    parser.add_argument("--offers", type=int, default=100_000, help="catalog size")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--regenerate", action="store_true", help="rebuild the catalog")
    parser.add_argument("--rounds", type=int, default=20, help="timed passes over each mix")
    parser.add_argument("--top", type=int, default=15, help="functions listed by own time")
    parser.add_argument(
        "--only", choices=("search", "quote"), help="the searches (both mixes) or the quotes"
    )


def run(args) -> int:
    os.environ.update(SERVE_SETTINGS)
    os.environ.update(HIGH_RATE_LIMITS)
    url = bench_database_url(suffix="_bench_request")
    ensure_database(url)
    setup_django(url)
    from bench.load import buyer_key
    from bench.search import prepare_catalog

    report = Report()
    report.line(f"GPU Market CPU per request, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    report.line(f"CPU probe (bench/base.py): {cpu_probe_seconds():.2f} s; load average "
                f"{' '.join(f'{n:.2f}' for n in os.getloadavg())}")  # fmt: skip
    catalog_args = Namespace(offers=args.offers, seed=args.seed, regenerate=args.regenerate)
    prepare_catalog(catalog_args, report)
    key = buyer_key()
    from django.test.utils import override_settings

    # As the web server loads it, with a web process's connection settings: from here on, every
    # statement of this process runs under the web's statement timeout.
    from config.wsgi import application
    from marketplace.selectors.search_answers import DEFAULT_ANSWERS_KEPT

    # `search` is the search's own work, with no answer kept (each round would be answered
    # from the first's otherwise: marketplace/selectors/search_answers.py); `kept search`
    # is a repeated search answered from the kept answer.
    mixes = [
        ("search", search_requests(), {}, 0),
        ("kept search", search_requests(), {}, DEFAULT_ANSWERS_KEPT),
        ("quote", quote_requests(), {"key": key}, 0),
    ]
    for kind, requests, headers, answers_kept in mixes:
        if args.only and not kind.endswith(args.only):
            continue
        with override_settings(SEARCH_ANSWERS_KEPT=answers_kept):
            report.mix(kind, _measure_mix(application, requests, headers, args), args.top)
    report.save(RESULTS)
    return 0


def _measure_mix(application, requests: list[Request], headers: dict, args) -> Measured:
    app = Client(application, **headers)
    for request in requests:  # warm-up: imports, caches, plans; and every answer is a 2xx
        status, body = app.send(request)
        if not 200 <= status < 300:
            raise BenchError(f"{request.path} {request.body} answered {status}: {body[:300]}")
    return measure(app, requests, args.rounds)


COMMAND = BenchCommand(
    help="CPU time per search and per quote request in process, with a profile",
    add_arguments=add_arguments,
    run=run,
)


class Client:
    """Requests straight into a WSGI application, as the web server hands them over."""

    def __init__(self, application, *, key: str | None = None):
        self.application = application
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}

    def send(self, request: Request) -> tuple[int, bytes]:
        path, _, query = request.path.partition("?")
        body = json.dumps(request.body).encode() if request.body is not None else b""
        environ = {
            "REQUEST_METHOD": request.method,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1:8000",
            "HTTP_ACCEPT": "application/json",
            "CONTENT_TYPE": "application/json" if body else "",
            "CONTENT_LENGTH": str(len(body)) if body else "",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.url_scheme": "http",
            "wsgi.version": (1, 0),
            "wsgi.multithread": False,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            **self.headers,
        }
        started = []
        chunks = self.application(
            environ, lambda status, headers, exc_info=None: started.append(status)
        )
        try:
            content = b"".join(chunks)
        finally:
            getattr(chunks, "close", lambda: None)()
        return int(started[0].split()[0]), content


@dataclass
class Measured:
    cpu_ms: list[float]  # per request, one figure per round
    wall_ms: list[float]
    statements: float  # per request
    redis_commands: float
    profile: cProfile.Profile
    requests: int
    first_statements: list[str]  # what the first request of the mix sent to PostgreSQL


def measure(app: Client, requests: list[Request], rounds: int) -> Measured:
    cpu_ms, wall_ms = [], []
    for _ in range(rounds):
        cpu, wall = time.process_time(), time.perf_counter()
        for request in requests:
            app.send(request)
        cpu_ms.append(1000 * (time.process_time() - cpu) / len(requests))
        wall_ms.append(1000 * (time.perf_counter() - wall) / len(requests))
    with RoundTrips() as trips:
        for index, request in enumerate(requests):
            app.send(request)
            if index == 0:
                first_statements = list(trips.sent)
    # cProfile's own clock (wall time): a Python timer such as process_time would cost more
    # than most of what it times. Waits on PostgreSQL show as psycopg's `wait`.
    profiler = cProfile.Profile()
    profiler.enable()
    for request in requests:
        app.send(request)
    profiler.disable()
    return Measured(
        cpu_ms=cpu_ms,
        wall_ms=wall_ms,
        statements=trips.statements / len(requests),
        redis_commands=trips.redis_commands / len(requests),
        profile=profiler,
        requests=len(requests),
        first_statements=first_statements,
    )


class RoundTrips:
    """Counts what the process sends to PostgreSQL (every statement psycopg executes, Django's
    and the raw ones alike) and to Redis (each command or pipeline: one round trip each)."""

    def __enter__(self):
        import psycopg
        import redis.client
        import redis.connection

        self.statements = self.redis_commands = 0
        self.sent: list[str] = []  # the statements, shortened
        self._patched = []

        def count(owner, name, counter):
            original = getattr(owner, name)

            def counted(target, query, *args, **kwargs):
                setattr(self, counter, getattr(self, counter) + 1)
                if counter == "statements":
                    self.sent.append(" ".join(str(query).split())[:90])
                return original(target, query, *args, **kwargs)

            setattr(owner, name, counted)
            self._patched.append((owner, name, original))

        count(psycopg.Cursor, "execute", "statements")
        count(redis.connection.AbstractConnection, "send_packed_command", "redis_commands")
        return self

    def __exit__(self, *exc_info):
        for owner, name, original in reversed(self._patched):
            setattr(owner, name, original)


class Report(BaseReport):
    def mix(self, kind: str, measured: Measured, top: int) -> None:
        self.line()
        self.line(
            f"{kind}: {measured.requests} requests x {len(measured.cpu_ms)} rounds; per request "
            f"CPU {statistics.median(measured.cpu_ms):.2f} ms (best round "
            f"{min(measured.cpu_ms):.2f}), wall {statistics.median(measured.wall_ms):.2f} ms; "
            f"{measured.statements:.1f} SQL statements, {measured.redis_commands:.1f} Redis "
            f"round trips"
        )
        self.line("  the SQL statements of its first request:")
        for statement in measured.first_statements:
            self.line(f"    {statement}")
        self.line("  stages under cProfile, wall ms per request (cumulative; they nest):")
        stats = pstats.Stats(
            measured.profile
        ).stats  # {(file, line, name): (cc, nc, tt, ct, callers)}
        whole = None
        for label, suffix, name in STAGES:
            found = [
                (ncalls, ct)
                for (file, _, function), (_, ncalls, _, ct, _) in stats.items()
                if function == name and file.endswith(suffix)
            ]
            if not found:
                continue
            calls, cumulative = sum(c for c, _ in found), sum(t for _, t in found)
            share = "" if whole is None else f"{100 * cumulative / whole:5.0f}%"
            whole = whole or cumulative
            self.line(
                f"    {label:46}{1000 * cumulative / measured.requests:8.3f}{share:>7}"
                f"   {calls / measured.requests:5.1f} calls"
            )
        self.line(f"  top {top} functions by own time (cProfile):")
        buffer = io.StringIO()
        pstats.Stats(measured.profile, stream=buffer).sort_stats("tottime").print_stats(top)
        listing = buffer.getvalue().splitlines()
        start = next(i for i, text in enumerate(listing) if text.strip().startswith("ncalls"))
        for text in listing[start : start + top + 1]:
            self.line("    " + _shorten(text))


def _shorten(text: str) -> str:
    """cProfile's lines name files by absolute path: keep what follows site-packages or the
    checkout."""
    root = str(Path(__file__).resolve().parent.parent) + "/"
    text = text.replace(root, "")
    marker = "site-packages/"
    if marker not in text:
        return text
    path_start = text.rindex(" ", 0, text.index(marker)) + 1
    return text[:path_start] + text[text.index(marker) + len(marker) :]
