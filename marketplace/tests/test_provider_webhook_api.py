"""A provider's owner changes its webhook URL and rotates its webhook secret
(`POST /api/v1/providers/<id>/webhook/`, `.../webhook/rotate-secret/`). Who may, and the
permission matrix's other actors: test_provider_permissions.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from marketplace.models import Provider
from marketplace.tests.provider_fixtures import make_listed_provider
from tests.factories import make_org_with_key

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HOOK = "https://hooks.example.com/gpumarket"


@pytest.fixture
def seller():
    return make_listed_provider(slug="acme-gpus", webhook_url=HOOK, role="owner")


def set_url(client, seller, url, **body):
    return client.post(
        f"/api/v1/providers/{seller.provider.pk}/webhook/",
        {"webhook_url": url} | body,
        content_type="application/json",
        **seller.headers,
    )


def rotate(client, seller, **body):
    return client.post(
        f"/api/v1/providers/{seller.provider.pk}/webhook/rotate-secret/",
        body,
        content_type="application/json",
        **seller.headers,
    )


# --- the URL ------------------------------------------------------------------------------


def test_the_owner_moves_the_webhook_to_another_url(client, seller):
    response = set_url(client, seller, "https://new-hooks.example.com/in")

    assert response.status_code == 200, response.content
    assert response.json()["webhook_url"] == "https://new-hooks.example.com/in"
    assert response.json()["id"] == seller.provider.pk
    assert "webhook_secret" not in response.json()  # the secret is shown only when made
    provider = Provider.objects.get(pk=seller.provider.pk)
    assert (provider.webhook_url, provider.webhook_secret) == (
        "https://new-hooks.example.com/in",
        seller.provider.webhook_secret,
    )


def test_an_empty_url_stops_the_deliveries(client, seller):
    response = set_url(client, seller, "")

    assert response.status_code == 200, response.content
    assert Provider.objects.get(pk=seller.provider.pk).webhook_url == ""


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/in",  # not https
        "https://127.0.0.1/in",  # this machine
        "https://10.0.0.7/in",  # a private network
        "https://metadata.google.internal/computeMetadata/v1/",
        "https://user:pw@hooks.example.com/in",
        "ftp://hooks.example.com/in",
        "https://hooks.example.com/" + "a" * 200,  # longer than the column: was a 500
    ],
)
def test_it_refuses_a_url_as_registration_does(client, seller, settings, url):
    settings.WEBHOOK_ALLOW_HTTP = False
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False

    response = set_url(client, seller, url)

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid_webhook_url"
    assert Provider.objects.get(pk=seller.provider.pk).webhook_url == HOOK


def test_registration_refuses_a_url_longer_than_its_column(client):
    owner = make_org_with_key(role="owner")

    response = client.post(
        "/api/v1/providers/",
        {"org": owner.org.slug, "name": "Acme", "slug": "acme-long",
         "webhook_url": "https://hooks.example.com/" + "a" * 300},
        content_type="application/json",
        **owner.headers,
    )  # fmt: skip

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid_webhook_url"
    assert not Provider.objects.filter(slug="acme-long").exists()


@pytest.mark.parametrize(
    ("body", "code"),
    [({}, "validation_error"), ({"webhook_url": HOOK, "secret": "x"}, "unknown_field")],
)
def test_it_refuses_a_malformed_body(client, seller, body, code):
    response = client.post(
        f"/api/v1/providers/{seller.provider.pk}/webhook/",
        body,
        content_type="application/json",
        **seller.headers,
    )

    assert (response.status_code, response.json()["error"]["code"]) == (400, code)


def test_another_organizations_provider_is_not_found(client, seller):
    # given an owner of another organization, with a provider of its own
    other = make_listed_provider(slug="other-gpus", role="owner")

    # when it calls both endpoints for the first organization's provider
    responses = [
        client.post(f"/api/v1/providers/{seller.provider.pk}/webhook/{path}", body,
                    content_type="application/json", **other.headers)
        for path, body in (("", {"webhook_url": "https://evil.example.com/"}), ("rotate-secret/", {}))
    ]  # fmt: skip

    # then neither finds it, and nothing changed
    assert [(r.status_code, r.json()["error"]["code"]) for r in responses] == [
        (404, "not_found"),
        (404, "not_found"),
    ]
    provider = Provider.objects.get(pk=seller.provider.pk)
    assert (provider.webhook_url, provider.webhook_secret, provider.previous_webhook_secret) == (
        HOOK,
        seller.provider.webhook_secret,
        "",
    )


# --- the secret ---------------------------------------------------------------------------


def test_rotation_returns_a_new_secret_once_and_keeps_the_old_for_an_hour_by_default(
    client, seller
):
    old = seller.provider.webhook_secret

    with time_machine.travel(T0, tick=False):
        response = rotate(client, seller)

    assert response.status_code == 201, response.content
    body = response.json()
    provider = Provider.objects.get(pk=seller.provider.pk)
    assert body == {
        "provider": seller.provider.pk,
        "webhook_secret": provider.webhook_secret,
        "previous_secret_expires_at": "2026-03-02T10:00:00Z",
    }
    assert provider.webhook_secret not in ("", old)
    assert len(provider.webhook_secret) >= 40  # 32 random bytes, base64
    assert provider.previous_webhook_secret == old
    assert provider.previous_webhook_secret_expires_at == T0 + timedelta(hours=1)


def test_rotation_without_overlap_drops_the_old_secret_at_once(client, seller):
    response = rotate(client, seller, overlap_seconds=0)

    assert response.status_code == 201, response.content
    assert response.json()["previous_secret_expires_at"] is None
    provider = Provider.objects.get(pk=seller.provider.pk)
    assert (provider.previous_webhook_secret, provider.previous_webhook_secret_expires_at) == (
        "",
        None,
    )
    assert provider.webhook_secret == response.json()["webhook_secret"]


def test_a_second_rotation_keeps_only_the_two_latest_secrets(client, seller):
    first = rotate(client, seller, overlap_seconds=600).json()["webhook_secret"]
    second = rotate(client, seller, overlap_seconds=600).json()["webhook_secret"]

    provider = Provider.objects.get(pk=seller.provider.pk)
    assert (provider.webhook_secret, provider.previous_webhook_secret) == (second, first)


@pytest.mark.parametrize("overlap", [-1, 86401, "an hour", None])
def test_it_refuses_an_overlap_out_of_bounds(client, seller, overlap):
    response = rotate(client, seller, overlap_seconds=overlap)

    assert (response.status_code, response.json()["error"]["code"]) == (400, "validation_error")
    provider = Provider.objects.get(pk=seller.provider.pk)
    assert (provider.webhook_secret, provider.previous_webhook_secret) == (
        seller.provider.webhook_secret,
        "",
    )
