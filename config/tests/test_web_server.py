"""The production web server's command line (config/web_server.py), from the environment:
what `make serve` and the deploy image run. The server itself is driven end to end by
devtools/tests/test_serve.py."""

from __future__ import annotations

import os

from config.web_server import granian_command


def _flag(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_defaults_one_worker_per_core_two_threads_and_an_access_log():
    command = granian_command("127.0.0.1", 8123, env={})

    assert command[-1] == "config.wsgi:application"
    assert (_flag(command, "--interface"), _flag(command, "--host")) == ("wsgi", "127.0.0.1")
    assert _flag(command, "--port") == "8123"
    assert _flag(command, "--workers") == str(os.cpu_count())
    assert _flag(command, "--blocking-threads") == "2"
    assert _flag(command, "--workers-lifetime") == "86400"
    assert "--access-log" in command and "--respawn-failed-workers" in command


def test_the_environment_sets_workers_threads_lifetime_and_the_access_log():
    env = {
        "WEB_CONCURRENCY": "5",
        "WEB_THREADS": "3",
        "WEB_WORKER_LIFETIME": "3600",
        "WEB_ACCESS_LOG": "False",
    }

    command = granian_command("0.0.0.0", 8000, env=env)

    assert (_flag(command, "--workers"), _flag(command, "--blocking-threads")) == ("5", "3")
    assert _flag(command, "--workers-lifetime") == "3600"
    assert "--access-log" not in command
