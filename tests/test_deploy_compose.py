"""deploy/compose.yaml cannot run here (no container engine), so it is held to what `make
serve` runs: the same queues per worker, one beat, the web server's settings file, a
migrate one-shot that everything else waits for, and environment names the settings read."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from django.conf import settings

from devtools.supervisor import OWN_QUEUES, PROVIDER_QUEUES

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
APP_SERVICES = ("migrate", "web", "worker", "worker-providers", "beat")


@pytest.fixture(scope="module")
def services() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]


def option_after(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


def test_workers_consume_the_queues_make_serve_gives_them(services):
    assert option_after(services["worker"]["command"], "-Q").split(",") == list(OWN_QUEUES)
    assert option_after(services["worker-providers"]["command"], "-Q").split(",") == list(
        PROVIDER_QUEUES
    )
    assert set(OWN_QUEUES) | set(PROVIDER_QUEUES) == set(settings.CELERY_QUEUE_NAMES)


def test_exactly_one_beat_runs(services):
    beats = [name for name, service in services.items() if "beat" in service.get("command", [])]
    assert beats == ["beat"]
    assert "replicas" not in services["beat"].get("deploy", {})


def test_web_runs_the_image_command_with_the_server_settings_of_make_serve():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert 'CMD ["python", "-m", "config.web_server", "--bind", "0.0.0.0:8000"]' in dockerfile
    assert (ROOT / "config" / "web_server.py").is_file()
    assert "pip install .\n" in dockerfile  # production dependencies, no [dev] extras


def test_every_app_process_starts_after_the_migrate_one_shot(services):
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert services["migrate"]["restart"] == "no"
    for name in ("web", "worker", "worker-providers", "beat"):
        waits_for = services[name]["depends_on"]["migrate"]["condition"]
        assert waits_for == "service_completed_successfully", name


def test_app_processes_share_one_database_one_redis_and_one_environment(services):
    for name in APP_SERVICES:
        service = services[name]
        assert service["image"] == "gpumarket:latest", name
        assert service["env_file"] == ".env", name
        environment = service["environment"]
        assert environment["DATABASE_URL"].endswith("@postgres:5432/gpumarket}"), name
        assert environment["REDIS_URL"] == "${REDIS_URL:-redis://redis:6379/0}", name


def test_the_example_environment_names_only_what_settings_read():
    names = [
        line.split("=", 1)[0]
        for line in (DEPLOY / "env.example").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    settings_source = (ROOT / "config" / "settings.py").read_text()
    read_elsewhere = {"POSTGRES_PASSWORD": "compose.yaml", "WEB_CONCURRENCY": "web_server"}
    for name in names:
        assert name in read_elsewhere or f'"{name}"' in settings_source, name
