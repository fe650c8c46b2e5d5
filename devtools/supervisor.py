"""Development process supervisor.

    python -m devtools.supervisor run                   dev server + Celery worker and beat
    python -m devtools.supervisor serve                 production setting: granian, DEBUG off
    python -m devtools.supervisor test [pytest args]    the test suite
    python -m devtools.supervisor bench [args]          python -m bench
    python -m devtools.supervisor exec [--fresh] -- cmd ...

Each first ensures PostgreSQL and Redis: DATABASE_URL / REDIS_URL from the environment if
set, otherwise embedded servers started here as children (see devtools.services). On
Ctrl-C, SIGTERM or a child's death, everything is stopped in reverse start order.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from devtools.processes import (
    Child,
    Interrupted,
    StopRequest,
    log,
    spawn,
    stop_children,
)
from devtools.services import (
    HOST,
    ServiceError,
    make_scratch_dir,
    pid_is_running,
    port_accepts,
    port_is_free,
    register_local_webhook,
    start_localstripe,
    start_postgres,
    start_redis,
    stripe_key_is_real,
)

ROOT = Path(__file__).resolve().parent.parent
# Dev database, beat schedule, logs (gitignored). Overridable so tests don't touch yours.
RUN_DIR = Path(os.environ.get("GPUMARKET_RUN_DIR") or ROOT / ".run").resolve()
RUNNING_FILE = RUN_DIR / "services.json"  # lets `exec` join the services of a live `run`
SECRET_KEY_FILE = RUN_DIR / "secret_key"  # this checkout's own signing key (see local_secret_key)
DEV_PG_PORT = 54329
DEV_WEBHOOK_SECRET = "whsec_dev"
# The Celery queues (config.settings.CELERY_QUEUE_NAMES), split between make run's workers.
OWN_QUEUES = ("celery", "billing")
PROVIDER_QUEUES = (
    "launches",
    "provider",
    "pricing",
)  # settings' default too: localstripe signs with it
APP_TIER = 2  # app processes stop before Redis (1) and PostgreSQL (0)
# `serve` runs the production settings over plain http on loopback, where https-only cookies
# and a redirect to https would lock everyone out. Each can still be set otherwise.
LOOPBACK_HTTP_SETTINGS = {"SECURE_SSL_REDIRECT": "false", "SECURE_COOKIES": "false"}
FOREGROUND_GRACE = 10.0  # seconds a foreground command gets to exit after a signal
USAGE = __doc__.split("\n\n")[1]


class UsageError(Exception):
    pass


class Supervisor:
    def __init__(self) -> None:
        self.stop = StopRequest()
        self.children: list[Child] = []
        self.env = dict(os.environ)
        # `exec -- python ...`, `celery`, `pytest`: this virtualenv's, whatever PATH says.
        venv_bin = str(Path(sys.executable).parent)
        self.env["PATH"] = os.pathsep.join([venv_bin, self.env.get("PATH", os.defpath)])
        self.scratch: Path | None = None
        self.published_running_file = False
        self.local_stripe = False  # True once we started localstripe

    # --- starting and waiting ----------------------------------------------------------

    def spawn(self, name: str, argv: Sequence[str], **kwargs) -> Child:
        self.stop.check()  # once asked to stop, start nothing new
        kwargs.setdefault("env", self.env)
        kwargs.setdefault("cwd", ROOT)
        child = spawn(name, argv, **kwargs)
        self.children.append(child)
        return child

    def run_step(self, name: str, argv: Sequence[str], **kwargs) -> int:
        """Run a command to completion (still interruptible); return its exit code."""
        kwargs.setdefault("tier", APP_TIER)
        child = self.spawn(name, argv, **kwargs)
        while not child.has_exited():
            self.stop.sleep(0.05)
        return child.finish()

    def run_foreground(self, argv: Sequence[str], name: str | None = None) -> int:
        """Run a command that owns the terminal (pytest, a shell); return its exit code.

        The terminal's Ctrl-C reaches it directly. Signals sent to the supervisor itself
        are passed on, and it gets FOREGROUND_GRACE seconds to wind down.
        """
        name = name or Path(argv[0]).name
        child = self.spawn(name, argv, tier=APP_TIER, take_terminal=True)
        deadline = None
        while not child.has_exited():
            self._check_services()
            if self.stop.signum is not None and deadline is None:
                forwarded = signal.SIGINT if self.stop.signum == signal.SIGINT else signal.SIGTERM
                log(f"passing {forwarded.name} on to {name}")
                child.signal_group(forwarded)
                deadline = time.monotonic() + FOREGROUND_GRACE
            if deadline is not None and time.monotonic() > deadline:
                self.stop.check()
            time.sleep(0.05)
        return child.finish()

    def supervise(self, on_tick: Callable[[], None] = lambda: None) -> int:
        """Wait until a child dies (return non-zero) or a stop is requested."""
        while True:
            for child in self.children:
                if child.returncode is None and child.has_exited():
                    code = child.finish()
                    log(f"{child.name} exited with code {code}; stopping everything")
                    return code or 1
            on_tick()
            self.stop.sleep(0.2)

    def _check_services(self) -> None:
        for child in self.children:
            if child.tier < APP_TIER and child.returncode is None and child.has_exited():
                code = child.finish()
                where = f"; see {child.log_path}" if child.log_path else ""
                raise ServiceError(f"{child.name} exited unexpectedly (code {code}){where}")

    # --- services ------------------------------------------------------------------------

    def ensure_services(self, *, persistent: bool, join_running: bool = False) -> None:
        """Fill DATABASE_URL and REDIS_URL in self.env, starting servers where unset.

        persistent: keep the database in .run/pgdata (dev data survives restarts) rather
        than in a throwaway, fsync-less directory (tests, benchmarks).
        """
        if join_running:
            self._join_running_services()
        need_pg = not self.env.get("DATABASE_URL")
        need_redis = not self.env.get("REDIS_URL")
        if persistent and need_pg and (running := read_running_services()):
            raise ServiceError(
                f"another supervisor (pid {running['pid']}) is using .run/pgdata; stop it, "
                "or use `exec` to join it"
            )
        if need_pg or need_redis:
            self.scratch = make_scratch_dir()
        if need_pg:
            self.env["DATABASE_URL"] = self._start_postgres(persistent)
        if need_redis:
            assert self.scratch is not None
            self.env["REDIS_URL"] = start_redis(
                self, work_dir=self.scratch / "redis", log_path=self.scratch / "redis.log"
            )
        log(f"DATABASE_URL={redact(self.env['DATABASE_URL'])}")
        log(f"REDIS_URL={redact(self.env['REDIS_URL'])}")
        self._ensure_stripe()
        if persistent and need_pg:
            self._publish_running_services()

    def _ensure_stripe(self) -> None:
        """Point the Stripe client at localstripe (started here) unless STRIPE_API_BASE is
        set or STRIPE_SECRET_KEY is a real key."""
        self.env.setdefault("STRIPE_WEBHOOK_SECRET", DEV_WEBHOOK_SECRET)
        if self.env.get("STRIPE_API_BASE"):
            log(f"STRIPE_API_BASE={self.env['STRIPE_API_BASE']}")
            return
        if stripe_key_is_real(self.env.get("STRIPE_SECRET_KEY", "")):
            log("STRIPE_SECRET_KEY is a real key: using Stripe itself")
            return
        if self.scratch is None:
            self.scratch = make_scratch_dir()
        self.env["STRIPE_API_BASE"] = start_localstripe(
            self, log_path=self.scratch / "localstripe.log"
        )
        self.local_stripe = True

    def _start_postgres(self, persistent: bool) -> str:
        assert self.scratch is not None
        if persistent:
            RUN_DIR.mkdir(parents=True, exist_ok=True)
            data_dir, log_dir, port = RUN_DIR / "pgdata", RUN_DIR, DEV_PG_PORT
        else:
            data_dir, log_dir, port = self.scratch / "pgdata", self.scratch, None
        return start_postgres(
            self,
            data_dir=data_dir,
            socket_dir=self.scratch / "pgsock",  # short path: socket paths max ~100 chars
            log_path=log_dir / "postgres.log",
            preferred_port=port,
            fast=not persistent,
        )

    def _join_running_services(self) -> None:
        running = read_running_services()
        if running and not (self.env.get("DATABASE_URL") or self.env.get("REDIS_URL")):
            log(f"using the services of the running supervisor (pid {running['pid']})")
            for name in ("DATABASE_URL", "REDIS_URL", "STRIPE_API_BASE", "STRIPE_WEBHOOK_SECRET"):
                if name in running:
                    self.env[name] = running[name]

    def _publish_running_services(self) -> None:
        names = ("DATABASE_URL", "REDIS_URL", "STRIPE_API_BASE", "STRIPE_WEBHOOK_SECRET")
        data = {"pid": os.getpid(), **{k: self.env[k] for k in names if k in self.env}}
        RUNNING_FILE.write_text(json.dumps(data))
        self.published_running_file = True

    # --- stopping ------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop live children tier by tier (apps, then Redis, then PostgreSQL)."""
        live = [child for child in self.children if child.returncode is None]
        for tier in sorted({child.tier for child in live}, reverse=True):
            group = [child for child in live if child.tier == tier]
            log("stopping " + ", ".join(child.name for child in group))
            stop_children(group, self.stop)
        if self.published_running_file:
            RUNNING_FILE.unlink(missing_ok=True)
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
        if live:
            log("all stopped")


def read_running_services() -> dict | None:
    with contextlib.suppress(OSError, ValueError, KeyError):
        data = json.loads(RUNNING_FILE.read_text())
        if pid_is_running(int(data["pid"])) and int(data["pid"]) != os.getpid():
            return data
    return None


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


# --- commands --------------------------------------------------------------------------------


def cmd_run(sup: Supervisor, args: list[str]) -> int:
    if args:
        raise UsageError("run takes no arguments")
    port = free_app_port()
    sup.env.setdefault("DEBUG", "1")  # a local dev server: tracebacks, static files
    web = [sys.executable, "manage.py", "runserver", f"{HOST}:{port}", "--noreload"]
    return serve_app(sup, port, web=web, steps=[["migrate", "--noinput"], ["seed_demo"]])


def cmd_serve(sup: Supervisor, args: list[str]) -> int:
    """The production setting on this machine: granian with several workers, static files
    collected and served by WhiteNoise, DEBUG off; otherwise what `run` does."""
    if args:
        raise UsageError("serve takes no arguments")
    port = free_app_port()
    sup.env["DEBUG"] = "false"
    for name, value in LOOPBACK_HTTP_SETTINGS.items():
        sup.env.setdefault(name, value)
    sup.env.setdefault("STATIC_ROOT", str(RUN_DIR / "staticfiles"))
    web = [sys.executable, "-m", "config.web_server", "--bind", f"{HOST}:{port}"]
    steps = [["migrate", "--noinput"], ["collectstatic", "--noinput"], ["seed_demo"]]
    return serve_app(sup, port, web=web, steps=steps)


def free_app_port() -> int:
    port = int(os.environ.get("PORT", "8000"))
    if not port_is_free(port):
        raise ServiceError(f"port {port} is already in use; stop that or set PORT=...")
    return port


def serve_app(sup: Supervisor, port: int, *, web: list[str], steps: list[list[str]]) -> int:
    """Services, then each manage.py step in turn, then the web server, the Celery workers
    and beat, until Ctrl-C or one of them dies."""
    RUN_DIR.mkdir(parents=True, exist_ok=True)  # for the beat schedule even with DATABASE_URL
    sup.ensure_services(persistent=True)
    sup.env["PYTHONUNBUFFERED"] = "1"  # their output is piped through us, line by line
    sup.env.setdefault("SECRET_KEY", local_secret_key())
    for step in steps:
        code = sup.run_step(step[0], [sys.executable, "manage.py", *step], label_output=True)
        if code != 0:
            log(f"manage.py {' '.join(step)} failed with code {code}")
            return code
    start_app_processes(sup, web)
    url = f"http://{HOST}:{port}/"
    announced = False

    def announce_when_listening() -> None:
        nonlocal announced
        if not announced and port_accepts(port):
            announced = True
            if sup.local_stripe:
                register_local_webhook(
                    sup.env["STRIPE_API_BASE"],
                    url=f"{url}api/v1/stripe/webhook/",
                    secret=sup.env["STRIPE_WEBHOOK_SECRET"],
                )
                log(f"localstripe delivers its events to {url}api/v1/stripe/webhook/")
            log(f"GPU Market is up at {url}  (Ctrl-C stops everything)")

    return sup.supervise(announce_when_listening)


def local_secret_key() -> str:
    """This checkout's signing key, made on first use and kept in .run (mode 0600): sessions
    survive restarts, and `serve` (DEBUG off) never falls back to the public development key."""
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        return SECRET_KEY_FILE.read_text().strip()
    key = secrets.token_urlsafe(50)
    with contextlib.suppress(FileExistsError):  # another supervisor made one first: use it
        descriptor = os.open(SECRET_KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(key)
    return SECRET_KEY_FILE.read_text().strip()


def start_app_processes(sup: Supervisor, web: list[str]) -> None:
    python = sys.executable
    celery = [python, "-m", "celery", "-A", "config"]
    worker = [*celery, "worker", "-l", "info", "--concurrency", "2", "-Q"]
    commands = {
        "web": web,
        # Two workers, so that providers that answer slowly never hold up billing.
        "worker": [*worker, ",".join(OWN_QUEUES), "-n", "own@%h"],
        "worker-providers": [*worker, ",".join(PROVIDER_QUEUES), "-n", "providers@%h"],
        "beat": [*celery, "beat", "-l", "info", "--schedule", str(RUN_DIR / "celerybeat-schedule")],
    }
    for name, argv in commands.items():
        sup.spawn(name, argv, tier=APP_TIER, label_output=True)


def cmd_test(sup: Supervisor, args: list[str]) -> int:
    sup.ensure_services(persistent=False)
    return sup.run_foreground([sys.executable, "-m", "pytest", *strip_dashes(args)], "pytest")


def cmd_bench(sup: Supervisor, args: list[str]) -> int:
    sup.ensure_services(persistent=False)
    return sup.run_foreground([sys.executable, "-m", "bench", *strip_dashes(args)], "bench")


def cmd_exec(sup: Supervisor, args: list[str]) -> int:
    """Run any command with the services' environment. Uses the dev database (joining a
    running `run` if there is one); --fresh gives it throwaway servers instead."""
    fresh = bool(args) and args[0] == "--fresh"
    command = strip_dashes(args[1:] if fresh else args)
    if not command:
        raise UsageError("exec needs a command, e.g. exec -- python manage.py shell")
    if shutil.which(command[0], path=sup.env.get("PATH")) is None:
        raise UsageError(f"command not found: {command[0]}")
    sup.ensure_services(persistent=not fresh, join_running=not fresh)
    # manage.py refuses to start without a key when DEBUG is off (`make shell`, for one)
    sup.env.setdefault("SECRET_KEY", secrets.token_urlsafe(50) if fresh else local_secret_key())
    return sup.run_foreground(command)


def strip_dashes(args: list[str]) -> list[str]:
    return args[1:] if args[:1] == ["--"] else args


COMMANDS: dict[str, Callable[[Supervisor, list[str]], int]] = {
    "run": cmd_run,
    "serve": cmd_serve,
    "test": cmd_test,
    "bench": cmd_bench,
    "exec": cmd_exec,
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if argv else 2
    command = COMMANDS.get(argv[0])
    if command is None:
        print(f"unknown command {argv[0]!r}\n{USAGE}", file=sys.stderr)
        return 2
    sup = Supervisor()
    sup.stop.install()
    try:
        return command(sup, argv[1:])
    except Interrupted as exc:
        log(f"got {exc}; stopping")
        # Ctrl-C is how a server is stopped: not a failure
        return 0 if argv[0] in ("run", "serve") else 128 + exc.signum
    except UsageError as exc:
        print(f"{exc}\n{USAGE}", file=sys.stderr)
        return 2
    except ServiceError as exc:
        log(f"error: {exc}")
        return 1
    finally:
        sup.shutdown()


if __name__ == "__main__":
    sys.exit(main())
