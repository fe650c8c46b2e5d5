from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.worker
def test_it_reports_healthy_with_a_live_worker(client, celery_worker_process):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok" and body["checks"]["redis"] == "ok"
    assert body["checks"]["worker"].startswith("ok")


def test_it_reports_503_naming_the_broken_part(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("error")


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
