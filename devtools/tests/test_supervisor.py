"""The supervisor, end to end, with the real embedded PostgreSQL and Redis.

No Django database: each test drives `python -m devtools.supervisor` as a subprocess and
inspects processes and ports from the outside.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from devtools.services import pid_is_running, port_is_free, redis_answers

pytestmark = []

ROOT = Path(__file__).resolve().parents[2]
SUPERVISOR = [sys.executable, "-m", "devtools.supervisor"]

# Run by the supervisor: talks to both services and reports what it found, including the
# pids of the PostgreSQL server processes (the postmaster is the parent of our backend).
PROBE = """
import json, os, psycopg, redis
from pathlib import Path
from urllib.parse import urlsplit

def children_of(ppid):
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == ppid:
            found.append(int(stat.parent.name))
    return found

with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
    backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    rows = Path(f"/proc/{backend}/status").read_text().splitlines()
    postmaster = int(next(r for r in rows if r.startswith("PPid:")).split()[1])
client = redis.Redis.from_url(os.environ["REDIS_URL"])
assert client.ping()
urls = {k: os.environ[k] for k in ("DATABASE_URL", "REDIS_URL")}
print(json.dumps({
    **urls,
    "ports": [urlsplit(url).port for url in urls.values()],
    "postgres_pids": [postmaster, *children_of(postmaster)],
    "redis_pid": int(client.info("server")["process_id"]),
}))
"""


def env_without_services(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


def run_supervisor(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*SUPERVISOR, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def wait_until_gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while (alive := [pid for pid in pids if pid_is_running(pid)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class Output:
    """Collects a stream's lines on a thread, so a test can wait for one with a timeout."""

    def __init__(self, stream):
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen = ""
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.put(line)
        self.lines.put("")  # end of stream

    def wait_for(self, pattern: str, timeout: float = 30) -> str:
        """Return everything read up to the first line matching `pattern`."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                break
            self.seen += line
            if not line:
                break
            if re.search(pattern, line):
                return self.seen
        raise AssertionError(f"never saw {pattern!r}; output so far:\n{self.seen}")

    def rest(self) -> str:
        """Everything else, once the stream has ended."""
        while line := self.lines.get(timeout=10):
            self.seen += line
        return self.seen


def start_supervisor(*args: str) -> tuple[subprocess.Popen, Output]:
    proc = subprocess.Popen(
        [*SUPERVISOR, *args],
        cwd=ROOT,
        env=env_without_services(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, Output(proc.stderr)


def stop_if_running(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_it_starts_and_stops_embedded_postgres_and_redis():
    result = run_supervisor(
        "exec", "--fresh", "--", sys.executable, "-c", PROBE, env=env_without_services()
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["DATABASE_URL"].startswith("postgresql://postgres@127.0.0.1:")
    assert report["DATABASE_URL"].endswith("/gpumarket")
    assert report["REDIS_URL"].startswith("redis://127.0.0.1:")
    assert len(report["postgres_pids"]) > 1  # the postmaster and its helpers
    assert wait_until_gone([*report["postgres_pids"], report["redis_pid"]], timeout=2) == []
    assert all(port_is_free(port) for port in report["ports"])
    assert "all stopped" in result.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["TERM", "KILL"])
def test_it_cleans_up_when_killed(signum):
    proc, output = start_supervisor("exec", "--fresh", "--", "sleep", "60")
    try:
        seen = output.wait_for(r"REDIS_URL=")
        scratch = re.search(r"data (\S+)/pgdata\)", seen).group(1)
        deadline = time.monotonic() + 10
        while not (tree := descendants(proc.pid)) or not any(
            Path(f"/proc/{pid}/comm").read_text().strip() == "sleep" for pid in tree
        ):
            assert time.monotonic() < deadline, "sleep was never started"
            time.sleep(0.05)

        proc.send_signal(signum)
        code = proc.wait(timeout=30)

        assert code == (143 if signum == signal.SIGTERM else -signal.SIGKILL)
        assert wait_until_gone(tree, timeout=10) == []
        if signum == signal.SIGTERM:
            assert not Path(scratch).exists()
    finally:
        stop_if_running(proc)
    shutil.rmtree(scratch, ignore_errors=True)  # a SIGKILLed supervisor can't; the next sweeps


def given_services() -> dict[str, str]:
    """Already-running servers: the ones this test run got, else the machine's own."""
    database = os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    psycopg = pytest.importorskip("psycopg")
    try:
        psycopg.connect(database, connect_timeout=2).close()
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL at {database}: {exc}")
    if not redis_answers("127.0.0.1", int(redis_url.split(":")[2].split("/")[0])):
        pytest.skip(f"no Redis at {redis_url}")
    return {"DATABASE_URL": database, "REDIS_URL": redis_url}


def test_it_uses_given_urls():
    given = given_services()

    result = run_supervisor(
        "exec", "--fresh", "--", sys.executable, "-c", PROBE, env=env_without_services(**given)
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["DATABASE_URL"] == given["DATABASE_URL"]
    assert report["REDIS_URL"] == given["REDIS_URL"]
    assert "ready on" not in result.stderr  # started no server of its own
    assert all(pid_is_running(pid) for pid in [report["postgres_pids"][0], report["redis_pid"]])


def test_it_stops_everything_when_a_service_dies():
    proc, output = start_supervisor("exec", "--fresh", "--", "sleep", "60")
    try:
        seen = output.wait_for(r"REDIS_URL=")
        redis_pid = int(re.search(r"Redis ready on \S+ \(pid (\d+)\)", seen).group(1))
        tree = descendants(proc.pid)

        os.kill(redis_pid, signal.SIGKILL)
        code = proc.wait(timeout=30)

        assert code == 1
        assert "redis exited unexpectedly" in output.rest()
        assert wait_until_gone(tree, timeout=10) == []
    finally:
        stop_if_running(proc)


@pytest.fixture
def run_dir():
    # Not pytest's tmp_path: its parents are private (0700) and the PostgreSQL system user
    # must reach the data dir; the supervisor would chmod them, which a test shouldn't cause.
    path = Path(tempfile.mkdtemp(prefix="supervisor-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_dev_data_survives_a_restart(run_dir):
    """exec without --fresh keeps the database in the run dir, like `make run`."""
    env = env_without_services(GPUMARKET_RUN_DIR=str(run_dir))
    create = "CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)"
    query = "SELECT n FROM kept"
    script = "import os, sys, psycopg; c = psycopg.connect(os.environ['DATABASE_URL'], autocommit=True); r = c.execute(sys.argv[1]); print(r.fetchone()[0] if r.description else 'done')"  # noqa: E501

    first = run_supervisor("exec", "--", sys.executable, "-c", script, create, env=env)
    second = run_supervisor("exec", "--", sys.executable, "-c", script, query, env=env)

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "42"
    assert "initialising" not in second.stderr
    assert not (run_dir / "services.json").exists()


# Run by the supervisor with no STRIPE_API_BASE: makes a customer through the Stripe client,
# as the app does, and reports where it went.
STRIPE_PROBE = """
import json, os, stripe
client = stripe.StripeClient("sk_test_dev", base_addresses={"api": os.environ["STRIPE_API_BASE"]})
customer = client.v1.customers.create({"name": "probe"})
print(json.dumps({"base": os.environ["STRIPE_API_BASE"], "customer": customer.id,
                  "secret": os.environ["STRIPE_WEBHOOK_SECRET"]}))
"""


def test_it_starts_localstripe_on_loopback_and_stops_it():
    env = env_without_services(**given_services())
    env.pop("STRIPE_API_BASE", None)
    env.pop("STRIPE_SECRET_KEY", None)

    result = run_supervisor("exec", "--fresh", "--", sys.executable, "-c", STRIPE_PROBE, env=env)

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", report["base"])
    assert report["customer"].startswith("cus_")
    assert report["secret"] == "whsec_dev"
    assert port_is_free(int(report["base"].rsplit(":", 1)[1]))  # stopped with the rest


def test_a_real_stripe_key_starts_no_localstripe():
    env = env_without_services(**given_services())
    env.pop("STRIPE_API_BASE", None)
    env["STRIPE_SECRET_KEY"] = "sk_test_" + "x" * 40  # shaped like a key Stripe issues
    probe = "import os; print(os.environ.get('STRIPE_API_BASE', 'unset'))"

    result = run_supervisor("exec", "--fresh", "--", sys.executable, "-c", probe, env=env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "unset"
    assert "localstripe" not in result.stderr
