"""`make serve` end to end: the supervisor's `serve` on a free port, with its own embedded
PostgreSQL and Redis in a throwaway run directory, fetched over HTTP as a browser would, then
stopped with Ctrl-C, leaving nothing running."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from devtools.services import port_is_free
from devtools.tests.test_supervisor import (
    ROOT,
    SUPERVISOR,
    Output,
    descendants,
    env_without_services,
    stop_if_running,
    wait_until_gone,
)

WEB_WORKERS = 2
TEN_YEARS = 10 * 365 * 24 * 3600  # WhiteNoise's cache time for a file named by its hash


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fetch(url: str, **headers: str):
    """(status, headers, body); the headers read without regard to case, as HTTP's are."""
    request = urllib.request.Request(url, headers=headers)
    try:
        # generous: a worker's first request imports the app, slow on a busy machine
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def wait_for_granian(pid: int, *, processes: int) -> tuple[list[int], list[str]]:
    """The supervisor's process tree and command lines, once granian has `processes`."""
    deadline = time.monotonic() + 90
    while True:
        tree = descendants(pid)
        command_lines = [command_line(child) for child in tree]
        running = sum(
            "granian --interface wsgi" in line and "config.wsgi:application" in line
            for line in command_lines
        )
        if running == processes or time.monotonic() > deadline:
            assert running == processes, command_lines
            return tree, command_lines
        time.sleep(0.2)


@pytest.fixture
def serving():
    """A `serve` supervisor, up; yields (base URL, its process, its output)."""
    # Not pytest's tmp_path: the PostgreSQL system user must reach the data directory.
    run_dir = Path(tempfile.mkdtemp(prefix="serve-test-"))
    run_dir.chmod(0o755)
    port = free_port()
    env = env_without_services(
        GPUMARKET_RUN_DIR=str(run_dir), PORT=str(port), WEB_CONCURRENCY=str(WEB_WORKERS)
    )
    # What a developer's shell has: serve makes a key, turns DEBUG off, starts localstripe.
    for name in ("SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE", "STATIC_ROOT",
                 "STRIPE_API_BASE", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"):  # fmt: skip
        env.pop(name, None)
    proc = subprocess.Popen(
        [*SUPERVISOR, "serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,  # the children's labelled lines
        stderr=subprocess.STDOUT,  # the supervisor's own
        text=True,
    )
    output = Output(proc.stdout)
    try:
        output.wait_for(r"GPU Market is up at", timeout=240)
        yield f"http://127.0.0.1:{port}", proc, output
    finally:
        stop_if_running(proc)
        shutil.rmtree(run_dir, ignore_errors=True)


@pytest.mark.timeout(420)
def test_serve_runs_granian_whitenoise_and_celery_and_stops_cleanly(serving):
    base, proc, output = serving
    port = int(base.rsplit(":", 1)[1])
    started = output.seen

    # then it prepared the database, the static files and the demo data, as `make run` does
    assert "demo API key (shown once): gpm_" in started
    assert re.search(r"\d+ static files copied to '.*/serve-test-[^/]*/staticfiles'", started)
    # and granian serves with its main process and WEB_CONCURRENCY workers (config/web_server.py
    # became granian: no Python process of ours in between), Celery beside it
    tree, command_lines = wait_for_granian(proc.pid, processes=1 + WEB_WORKERS)
    assert not any("config.web_server" in line for line in command_lines)
    assert any("celery -A config worker" in line and "-n own@" in line for line in command_lines)
    assert any("-n providers@" in line for line in command_lines)
    assert any("celery -A config beat" in line for line in command_lines)

    # when a browser asks for the home page
    status, headers, body = fetch(f"{base}/")

    # then granian answers over plain http (no redirect to https on loopback), with a CSP
    assert status == 200
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert "Strict-Transport-Security" not in headers  # sent on https only
    stylesheet = re.search(r'href="(/static/css/site\.[0-9a-f]{12}\.css)"', body.decode()).group(1)

    # and the stylesheet the page names comes from WhiteNoise: the file as written, cached
    # for good (its name changes with its content), compressed when asked
    status, headers, css = fetch(base + stylesheet)
    assert status == 200
    assert css == (ROOT / "static" / "css" / "site.css").read_bytes()
    assert headers["Content-Type"].startswith("text/css")
    cache_control = headers["Cache-Control"]
    assert "immutable" in cache_control and "public" in cache_control
    assert f"max-age={TEN_YEARS}" in cache_control
    status, headers, compressed = fetch(base + stylesheet, **{"Accept-Encoding": "gzip"})
    assert headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(compressed) == css

    # and /healthz finds the database, Redis and a live Celery worker (give the worker a moment)
    deadline = time.monotonic() + 60
    while (health := fetch(f"{base}/healthz"))[0] != 200 and time.monotonic() < deadline:
        time.sleep(1)
    assert health[0] == 200, health
    assert json.loads(health[2]) == {"status": "ok"}

    # and DEBUG is off: an unknown page is our 404, not Django's debug page
    status, _, missing = fetch(f"{base}/no-such-page/")
    assert status == 404
    assert b"URLconf" not in missing

    # when it is stopped with Ctrl-C
    tree = descendants(proc.pid)  # Celery's pool processes included, by now
    proc.send_signal(signal.SIGINT)
    code = proc.wait(timeout=60)

    # then everything it started is gone and the port is free again
    assert code == 0
    assert wait_until_gone(tree, timeout=10) == []
    assert port_is_free(port)
    assert "all stopped" in output.rest()


def test_serve_takes_no_arguments():
    result = subprocess.run(
        [*SUPERVISOR, "serve", "--now"],
        cwd=ROOT,
        env={**os.environ},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "serve takes no arguments" in result.stderr
