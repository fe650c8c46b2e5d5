"""The production web server: granian serving config.wsgi, for `make serve` and the
deploy image alike (`python -m config.web_server --bind HOST:PORT`, which becomes granian).

Why granian: its HTTP handling is Rust, so a request's Python time is the app's; on this
2-core machine it answered 2.5x the catalog searches per second of gunicorn's threaded
workers, at a third of the p99 (`make bench ARGS=load`, docs/api.md "Request cost").

Environment (README, "Configuration"): `WEB_CONCURRENCY` worker processes (default: one per
core), `WEB_THREADS` threads each running the app (default 2: one request waits on
PostgreSQL while the other runs), `WEB_WORKER_LIFETIME` seconds before a worker is replaced
(a slow leak never grows), `WEB_ACCESS_LOG` (on unless `false`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys

GRACEFUL_SECONDS = 20  # on SIGTERM or SIGINT, requests in flight get this long to finish
HEADER_READ_TIMEOUT_MS = 10_000  # a client that sends its headers slower is cut off


def granian_command(host: str, port: int, env=os.environ) -> list[str]:
    workers = env.get("WEB_CONCURRENCY") or str(os.cpu_count() or 1)
    command = [
        _granian(), "--interface", "wsgi", "--host", host, "--port", str(port),
        "--workers", workers, "--blocking-threads", env.get("WEB_THREADS", "2"),
        "--http", "1", "--no-ws",
        "--http1-header-read-timeout", str(HEADER_READ_TIMEOUT_MS),
        "--respawn-failed-workers",
        "--workers-lifetime", env.get("WEB_WORKER_LIFETIME", "86400"),
        "--workers-kill-timeout", str(GRACEFUL_SECONDS),
    ]  # fmt: skip
    if env.get("WEB_ACCESS_LOG", "true").lower() != "false":
        command.append("--access-log")
    return [*command, "config.wsgi:application"]


def _granian() -> str:
    """The granian of this interpreter's environment (a virtualenv's bin/), else PATH's."""
    beside = os.path.join(os.path.dirname(sys.executable), "granian")
    return beside if os.path.exists(beside) else (shutil.which("granian") or "granian")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bind", required=True, help="HOST:PORT")
    args = parser.parse_args(argv)
    host, _, port = args.bind.rpartition(":")
    command = granian_command(host, int(port))
    os.execv(command[0], command)  # the server takes this process over: signals reach it


if __name__ == "__main__":
    main()
