from __future__ import annotations

import time

import pytest
from django.core.cache import cache

from config.celery import app as celery_app
from config.health import WORKER_CACHE_KEY

pytestmark = pytest.mark.django_db


MONITOR_TOKEN = "monitor-token-for-tests"


@pytest.fixture
def monitor(settings):
    settings.HEALTHZ_TOKEN = MONITOR_TOKEN
    cache.delete(WORKER_CACHE_KEY)
    yield {"HTTP_AUTHORIZATION": f"Bearer {MONITOR_TOKEN}"}
    cache.delete(WORKER_CACHE_KEY)


@pytest.mark.worker
def test_it_reports_healthy_with_a_live_worker(client, celery_worker_process, monitor):
    started = time.monotonic()
    response = client.get("/healthz", **monitor)
    took = time.monotonic() - started

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok" and body["checks"]["redis"] == "ok"
    assert body["checks"]["worker"] == "ok (a worker answered)"
    assert took < 0.9  # the worker's answer ends the ping: not its whole 1 s timeout


def test_it_reports_503_naming_the_broken_part(client, settings, monitor):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/healthz", **monitor)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("error")


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", "Bearer "])
def test_it_tells_the_public_the_status_only(client, settings, monitor, authorization):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # broken: its error names a host and port
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    response = client.get("/healthz", **headers)
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}


def test_it_shows_staff_the_checks(client, monitor, django_user_model):
    staff = django_user_model.objects.create_user("ops@example.com", "pw-123456789", is_staff=True)
    client.force_login(staff)
    assert "checks" in client.get("/healthz").json()


def test_it_pings_the_workers_once_per_cache_window(client, monitor, monkeypatch):
    pings = []

    def ping(timeout, limit):
        pings.append((timeout, limit))
        return [{"worker@a": {"ok": "pong"}}]

    monkeypatch.setattr(celery_app.control, "ping", ping)
    for _ in range(5):
        assert client.get("/healthz", **monitor).json()["checks"]["worker"].startswith("ok")
    assert pings == [(1.0, 1)]


def test_it_serves_the_openapi_schema_and_docs(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in ("/api/v1/offers/", "/api/v1/reservations/", "/api/v1/api-keys/", "/api/v1/orgs/"):
        assert path in paths
    assert client.get("/api/docs/").status_code == 200


def test_it_answers_unknown_api_paths_with_the_error_format(client):
    response = client.get("/api/v1/nothing-here/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_health_answers_plain_http_while_pages_redirect_to_https(client, settings):
    # given production's https redirect, without a proxy header saying the request was https
    settings.SECURE_SSL_REDIRECT = True

    # then a load balancer probing the backend gets the health (503 here: no worker runs)...
    health = client.get("/healthz")
    assert health.status_code in (200, 503)
    assert set(health.json()) == {"status"}
    # ...and a browser the redirect
    home = client.get("/offers/")
    assert home.status_code == 301
    assert home["Location"] == "https://testserver/offers/"
