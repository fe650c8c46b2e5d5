"""The API refuses a body larger than API_MAX_BODY_BYTES before anything reads it."""

from __future__ import annotations

import pytest

from tests.factories import make_org_with_key

pytestmark = pytest.mark.django_db


def test_a_body_over_the_limit_is_refused_with_413_unread(client, settings, monkeypatch):
    settings.API_MAX_BODY_BYTES = 1000
    buyer = make_org_with_key(role="buyer")
    read = []
    monkeypatch.setattr(
        "rest_framework.parsers.JSONParser.parse", lambda *a, **k: read.append(1) or {}
    )

    response = client.post(
        "/api/v1/quotes/", "x" * 1001, content_type="application/json", **buyer.headers
    )

    assert response.status_code == 413
    error = response.json()["error"]
    assert (error["code"], error["limit"]) == ("body_too_large", 1000)
    assert read == []


def test_a_body_at_the_limit_is_read(client, settings):
    settings.API_MAX_BODY_BYTES = 1000
    buyer = make_org_with_key(role="buyer")
    body = '{"gpu": "H100:1", "hours": 1}'.ljust(1000)

    response = client.post(
        "/api/v1/quotes/", body, content_type="application/json", **buyer.headers
    )

    assert response.status_code != 413


def test_a_content_length_that_is_no_number_is_a_400(client):
    response = client.generic(
        "POST", "/api/v1/quotes/", b"{}", content_type="application/json", CONTENT_LENGTH="12abc"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_content_length"


def test_pages_keep_djangos_own_limit(client, settings):
    settings.API_MAX_BODY_BYTES = 10
    response = client.post("/login/", {"username": "a@example.com", "password": "x" * 50})
    assert response.status_code == 200  # the form again, with its error
    assert b"body_too_large" not in response.content
