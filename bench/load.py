"""`python -m bench load`: requests per second over HTTP, `make serve` against `make run`.

Starts the app as `python -m devtools.supervisor serve` (granian, DEBUG off, with its
Celery workers and beat), on a free loopback port and against the benchmark's own database
(`<DATABASE_URL's database>_load`, seeded by the app's own `seed_demo` step); DATABASE_URL
and REDIS_URL are passed through, so no embedded server starts. Once the port answers, an
organization and a buyer API key are made for the quotes, and N concurrent keep-alive
clients (one asyncio process, aiohttp) drive a fixed mix for a fixed time: catalog searches
(`GET /api/v1/offers/?q=...`, a dozen repeated as users repeat them), the same searches each
asked once (`new search`: no answer nor SQL kept for them), then quotes
(`POST /api/v1/quotes/`). Then the same searches
through `python -m devtools.supervisor run` (runserver, DEBUG on), for comparison. Each app
is stopped with SIGINT (then killed if it lingers), and the bench fails if any of its
processes is left.

Rate limits are raised for the app it starts (HIGH_RATE_LIMITS): what is measured is the
app, not its throttle. A 429 still counts as an error, so a limit the bench does not know
of shows. The client shares the machine's cores with the server: its own CPU use is shown.
Results: bench/results/load.txt.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

from bench.base import (
    BenchCommand,
    BenchError,
    bench_database_url,
    cpu_probe_seconds,
    ensure_database,
    setup_django,
)
from bench.base import Report as BaseReport

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results" / "load.txt"
HOST = "127.0.0.1"
# Every rate limit the app reads from the environment, raised far above what two cores can
# serve. A limit added later without an entry here shows as 429s in the errors column.
HIGH_RATE_LIMITS = {
    f"RATE_LIMIT_{scope}": "1000000/min" for scope in ("SEARCH", "READ", "WRITE", "RESERVE")
}
# The first `price<N/h` bound of the new searches: far above any offer's price per hour.
NEW_SEARCH_FIRST_BOUND = 1_000_000
AIM = (500, 0.050)  # searches per second, and their p99 in seconds, through `make serve`
# (filter, sort): each valid on the demo catalog (docs/filter-language.md), most matching
# some offers, a few none (an empty answer is an answer too).
SEARCHES = [
    ("", ""),
    ("gpu=H100", "price"),
    ("gpu=H100 gpus=8 price<30/h", ""),
    ("gpu in [H100, H200] region=eu-*", "gpu_price"),
    ("gpus>=4 pricing=spot", "price"),
    ("continent=EU vram>=80GB", "-vram"),
    ("gpu=RTX_40* or gpu=L4", "gpu_price"),
    ("not provider=simcloud gpus>=1", "-gpus"),
    ("(gpu=A100 vram>=80GB or gpu=H100) pricing=on_demand", "price"),
    ("observed<1d gpu_price<3", ""),
    ("region=*west* total_vram>=640GB", "-total_vram,gpu_price"),
    ("gpu_vendor=amd", ""),
]
QUOTES = [
    {"gpu": "H100:8", "hours": "24"},
    {"gpu": "A100,H100:80GB..:8", "hours": "72", "filter": "continent=NA"},
    {"gpu": "L4:1", "hours": "10", "pricing": ["on_demand", "spot"]},
    {"gpu": "24GB..:1", "hours": "5"},
    {"gpu": "H100:16", "hours": "12", "allow_split": True, "same_region": False},
    {"gpu": "8", "hours": "24", "objective": "cost_per_work"},
    {"gpu": "amd:MI300X:8", "hours": "24", "disk_gb": "500", "egress_gb": "100"},
    {"gpu": "L40S:4", "hours": "2", "max_total": "100"},
]


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: dict | None = None


def search_request(query: str, sort: str) -> Request:
    params = {"q": query, **({"sort": sort} if sort else {})}
    return Request("GET", f"/api/v1/offers/?{urlencode(params)}")


def search_requests() -> list[Request]:
    return [search_request(query, sort) for query, sort in SEARCHES]


def new_search_mix(clients: int) -> list[Iterator[Request]]:
    """The searches as request_mix sends them, but each one's text never asked before: it
    gains `price<N/h`, N a new number far above any price (the same offers match), so that
    no process has kept its answer nor its SQL (marketplace/selectors/search_answers.py)."""
    bounds = itertools.count(NEW_SEARCH_FIRST_BOUND)
    return [
        (search_request(f"{query} price<{next(bounds)}/h".strip(), sort) for query, sort in cycle)
        for cycle in request_mix(SEARCHES, clients)
    ]


def quote_requests() -> list[Request]:
    return [Request("POST", "/api/v1/quotes/", body) for body in QUOTES]


def request_mix(requests: list, clients: int) -> list[itertools.cycle]:
    """One endless sequence per client, each the whole mix in order from its own starting
    point: at any moment the clients are asking different things."""
    return [
        itertools.cycle(requests[i % len(requests) :] + requests[: i % len(requests)])
        for i in range(clients)
    ]


def percentile(samples: list[float], q: float) -> float:
    """Nearest rank: the smallest sample with at least a fraction q of them at or below it."""
    ordered = sorted(samples)
    rank = math.ceil(round(q * len(ordered), 9))  # round: 0.29 * 100 is 28.999999999999996
    return ordered[min(len(ordered), max(1, rank)) - 1]


@dataclass
class Phase:
    mode: str
    kind: str
    latencies: list[float] = field(default_factory=list)  # seconds, answers in 2xx only
    errors: Counter = field(default_factory=Counter)  # status (or exception name) -> count
    first_error: dict = field(default_factory=dict)  # status -> the start of its body
    seconds: float = 0.0  # measured window
    client_cpu: float = 0.0  # CPU seconds the load generator used, over warm-up and window
    wall: float = 0.0  # warm-up and window
    machine_busy: float = 0.0  # percent of all cores busy over the same
    app_cpu: float = 0.0  # CPU seconds the app's processes used in the measured window
    app_cpu_by_role: Counter = field(default_factory=Counter)  # the same, by App.cpu_by_role

    @property
    def requests(self) -> int:
        return len(self.latencies) + sum(self.errors.values())

    @property
    def per_second(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    @property
    def app_cpu_per_request(self) -> float:
        return self.app_cpu / self.requests if self.requests else float("nan")

    def quantile(self, q: float) -> float:
        return percentile(self.latencies, q) if self.latencies else float("nan")


def add_arguments(parser) -> None:
    parser.add_argument("--duration", type=float, default=20.0, help="seconds measured per mix")
    parser.add_argument(
        "--warmup",
        type=float,
        default=5.0,
        help="seconds before measuring (each web worker imports the app on its first request)",
    )
    parser.add_argument("--clients", type=int, default=16, help="concurrent connections")
    parser.add_argument(
        "--modes",
        nargs="+",
        choices=("serve", "run"),
        default=["serve", "run"],
        help="which apps to drive (serve: searches and quotes; run: searches)",
    )
    parser.add_argument(
        "--start-timeout", type=float, default=240.0, help="seconds for an app to come up"
    )


def run(args) -> int:
    app_env = _app_environment()  # before setup_django changes ours
    url = bench_database_url(suffix="_load")
    ensure_database(url)
    setup_django(url)  # migrated here, so that the apps' own migrate step has nothing to do
    report = Report()
    report.line(f"GPU Market load benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    report.line(f"CPU probe (bench/base.py): {cpu_probe_seconds():.2f} s")
    report.line(
        f"{os.cpu_count()} cores, shared by the app and the load generator (one asyncio "
        f"process, aiohttp); {args.clients} concurrent keep-alive clients, closed loop; "
        f"{args.warmup:g} s warm-up then {args.duration:g} s per mix"
    )
    report.line(
        "rate limits raised for the app: "
        + " ".join(f"{name}={value}" for name, value in HIGH_RATE_LIMITS.items())
    )
    phases = []
    for mode in args.modes:
        kinds = ("search", "new search", "quote") if mode == "serve" else ("search",)
        with running_app(mode, {**app_env, "DATABASE_URL": url}, args.start_timeout) as app:
            if mode == args.modes[0]:
                report.line(f"catalog: {_offer_count()} offers (seed_demo)")
            headers = {"Authorization": f"Bearer {buyer_key()}"} if "quote" in kinds else {}
            for kind in kinds:
                phase = Phase(mode, kind)
                asyncio.run(drive(app, _mix(kind, args.clients), phase, args, headers))
                phases.append(phase)
                print(f"{mode} {kind}: {phase.per_second:.0f}/s", flush=True)
    report.table(phases)
    report.save(RESULTS)
    return 0


def _mix(kind: str, clients: int) -> list[Iterator[Request]]:
    if kind == "new search":
        return new_search_mix(clients)
    return request_mix(search_requests() if kind == "search" else quote_requests(), clients)


COMMAND = BenchCommand(
    help="searches and quotes per second over HTTP: make serve, and make run",
    add_arguments=add_arguments,
    run=run,
)


# --- the app --------------------------------------------------------------------------------


def _app_environment() -> dict:
    env = dict(os.environ)
    # `run` sets DEBUG on and `serve` off, unless told otherwise: let each choose.
    env.pop("DEBUG", None)
    env.update(HIGH_RATE_LIMITS)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@contextlib.contextmanager
def running_app(mode: str, env: dict, start_timeout: float):
    """`python -m devtools.supervisor <mode>` on a free port, its output in a scratch
    directory (also its RUN_DIR: beat schedule, static files, signing key); yields the base
    URL and the supervisor's pid once the catalog answers. On the way out: SIGINT, a wait, SIGKILL for stragglers,
    and a check that none of its processes is left."""
    with tempfile.TemporaryDirectory(prefix=f"gpm-bench-load-{mode}-") as scratch:
        port = _free_port()
        env = {**env, "PORT": str(port), "GPUMARKET_RUN_DIR": scratch}
        log_path = Path(scratch) / "app.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "devtools.supervisor", mode],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # our terminal's Ctrl-C reaches it only through us
            )
        base = f"http://{HOST}:{port}"
        try:
            _wait_until_answering(process, base, start_timeout, log_path)
            print(f"{mode}: up at {base} (pid {process.pid})", flush=True)
            yield App(base, process.pid)
        finally:
            leftovers = _stop(process, port)
            if leftovers:
                raise BenchError(f"{mode} left processes running: {leftovers}")


@dataclass(frozen=True)
class App:
    base: str
    pid: int  # the supervisor's

    def cpu_seconds(self) -> float:
        """CPU time of the supervisor and every process under it, gone ones included (a
        web worker replaced after its lifetime counts through its parent's children's
        times)."""
        return sum(self.cpu_by_role().values())

    def cpu_by_role(self) -> Counter:
        """The same CPU time by role: `web` (granian or runserver), `celery` (workers and
        beat), `supervisor` (it relays every process's output lines, the access log's too)."""
        import psutil

        by_role = Counter()
        with contextlib.suppress(psutil.NoSuchProcess):
            root = psutil.Process(self.pid)
            for process in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.NoSuchProcess):
                    times = process.cpu_times()
                    by_role[_role(process)] += (
                        times.user + times.system + times.children_user + times.children_system
                    )
        return by_role


def _role(process) -> str:
    command = " ".join(process.cmdline())
    if "celery" in command:
        return "celery"
    if "granian" in command or "runserver" in command:
        return "web"
    return "supervisor"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _wait_until_answering(process, base: str, timeout: float, log_path: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"the app exited ({process.returncode}):\n{_tail(log_path)}")
        probe = f"{base}/api/v1/offers/?limit=1"
        with (
            contextlib.suppress(OSError, urllib.error.URLError),
            urllib.request.urlopen(probe, timeout=5) as answer,
        ):
            if answer.status == 200:
                return
        time.sleep(0.5)
    raise BenchError(f"the app did not answer within {timeout:g} s:\n{_tail(log_path)}")


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _stop(process, port: int, grace: float = 60.0) -> list[str]:
    """Stop the supervisor as Ctrl-C would; return what is left of its processes (killed)."""
    import psutil

    tree = []
    with contextlib.suppress(psutil.NoSuchProcess):
        tree = psutil.Process(process.pid).children(recursive=True)
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    time.sleep(0.5)  # the last children are reaped by the supervisor as it exits
    left = [p for p in tree if _alive(p)]
    for child in left:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
    names = [f"{p.pid}" for p in left]
    if _port_taken(port):
        names.append(f"something still listening on {port}")
    return names


def _alive(process) -> bool:
    import psutil

    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _port_taken(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
        return True
    return False


def _offer_count() -> int:
    from marketplace.models import Offer

    return Offer.objects.count()


def buyer_key() -> str:
    """A fresh buyer key of the bench's own organization (made once per database)."""
    from django.db import connection

    from accounts.models import Organization, Role, User
    from accounts.services import api_key_create, organization_create

    email = "load-bench@gpumarket.local"
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(email, None, name="Load bench")
    org = Organization.objects.filter(memberships__user=user).first()
    if org is None:
        org = organization_create(user=user, name="Load bench")
    issued = api_key_create(org=org, created_by=user, name="load bench", role=Role.BUYER)
    connection.close()  # no idle connection of ours held while the app is measured
    return issued.secret


# --- the load -------------------------------------------------------------------------------


async def drive(
    app: App, sequences: list[Iterator[Request]], phase: Phase, args, headers: dict
) -> None:
    """A client per sequence, each sending its next request as soon as the last is answered,
    for args.warmup + args.duration seconds; what starts in the last args.duration counts."""
    import aiohttp
    import psutil

    connector = aiohttp.TCPConnector(limit=args.clients)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(
        app.base, connector=connector, timeout=timeout, headers=headers
    ) as session:
        started, cpu = time.perf_counter(), time.process_time()
        psutil.cpu_percent()
        window = (started + args.warmup, started + args.warmup + args.duration)
        clients = asyncio.gather(
            *(_client(session, sequence, window, phase) for sequence in sequences)
        )
        await asyncio.sleep(args.warmup)
        app_cpu = app.cpu_by_role()
        ends = await clients
        phase.app_cpu_by_role = app.cpu_by_role() - app_cpu
        phase.app_cpu = sum(phase.app_cpu_by_role.values())
        phase.machine_busy = psutil.cpu_percent()
        phase.client_cpu = time.process_time() - cpu
        phase.wall = time.perf_counter() - started
    phase.seconds = max(ends) - window[0]


async def _client(session, sequence, window: tuple[float, float], phase: Phase) -> float:
    import aiohttp

    finished = window[0]
    while (started := time.perf_counter()) < window[1]:
        request = next(sequence)
        try:
            async with session.request(request.method, request.path, json=request.body) as answer:
                body = await answer.read()
                status = answer.status
        except (aiohttp.ClientError, TimeoutError) as error:
            status, body = type(error).__name__, b""
        finished = time.perf_counter()
        if started < window[0]:
            continue
        if isinstance(status, int) and 200 <= status < 300:
            phase.latencies.append(finished - started)
        else:
            phase.errors[status] += 1
            phase.first_error.setdefault(status, body[:200].decode(errors="replace"))
    return finished


# --- output -----------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


class Report(BaseReport):
    def table(self, phases: list[Phase]) -> None:
        self.line()
        self.line("Latency from the client, ms (2xx answers; a closed loop, so queueing included)")
        self.line(
            f"{'':18}{'requests':>9}{'errors':>8}{'req/s':>8}{'p50':>8}{'p99':>8}{'max':>8}"
            f"{'app CPU/req':>13}{'client CPU':>12}{'all cores':>11}"
        )
        for phase in phases:
            self.line(
                f"{phase.mode + ' ' + phase.kind:18}{phase.requests:>9}"
                f"{sum(phase.errors.values()):>8}{phase.per_second:>8.0f}"
                f"{_ms(phase.quantile(0.5)):>8}{_ms(phase.quantile(0.99)):>8}"
                f"{_ms(max(phase.latencies, default=float('nan'))):>8}"
                f"{_ms(phase.app_cpu_per_request):>10} ms"
                f"{100 * phase.client_cpu / phase.wall:>11.0f}%{phase.machine_busy:>10.0f}%"
            )
        self._errors(phases)
        self._cpu_by_role(phases)
        self._comparison(phases)

    def _errors(self, phases: list[Phase]) -> None:
        for phase in phases:
            for status, count in sorted(phase.errors.items(), key=lambda item: str(item[0])):
                detail = json.dumps(phase.first_error.get(status, ""))[:160]
                self.line(f"  {phase.mode} {phase.kind}: {status} x{count}: {detail}")
        self.line(
            "app CPU/req: CPU time of the app's processes (supervisor, web, Celery; not "
            "PostgreSQL nor Redis) per request; "
            "client CPU: the load generator's share of one core; all cores: the machine's busy "
            "time over the mix, app, generator and anything else running"
        )

    def _cpu_by_role(self, phases: list[Phase]) -> None:
        for phase in phases:
            if phase.requests and phase.app_cpu_by_role:
                shares = ", ".join(
                    f"{role} {_ms(seconds / phase.requests)}"
                    for role, seconds in sorted(phase.app_cpu_by_role.items())
                )
                self.line(f"  {phase.mode} {phase.kind}: app CPU/req by process, ms: {shares}")

    def _comparison(self, phases: list[Phase]) -> None:
        found = {(p.mode, p.kind): p for p in phases}
        serve, dev = found.get(("serve", "search")), found.get(("run", "search"))
        if serve and dev and dev.per_second:
            self.line(
                f"searches, serve/run: {serve.per_second / dev.per_second:.1f}x the requests "
                f"per second, p99 {_ms(serve.quantile(0.99))} ms against {_ms(dev.quantile(0.99))} ms"
            )
        new = found.get(("serve", "new search"))
        if serve and new and new.per_second:
            self.line(
                f"searches, repeated/new (serve): {serve.per_second / new.per_second:.1f}x the "
                f"requests per second, p99 {_ms(serve.quantile(0.99))} ms against "
                f"{_ms(new.quantile(0.99))} ms"
            )
        if serve:
            rate, p99 = AIM
            met = serve.per_second >= rate and serve.quantile(0.99) <= p99 and not serve.errors
            self.line(
                f"aim (make serve): >= {rate} searches/s with p99 <= {_ms(p99)} ms and no "
                f"errors: {'met' if met else 'NOT met'}"
            )
