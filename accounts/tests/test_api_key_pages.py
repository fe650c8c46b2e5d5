"""The organization's API keys page: create (the secret shown once), list, revoke, as the API
does, and never a key above the member's own role."""

from __future__ import annotations

import re

import pytest

from accounts.models import ApiKey, Role
from accounts.services import api_key_create
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def _signed_in(client, role=Role.OWNER):
    member = MembershipFactory(role=role)
    client.force_login(member.user)
    return member


def test_an_owner_creates_a_key_that_works_and_is_shown_once(client, api_client):
    member = _signed_in(client)

    page = client.post("/org/keys/", {"name": "ci-deploy", "role": Role.BUYER})

    assert page.status_code == 200
    secret = re.search(r'<pre id="secret">(gpm_[^<]+)</pre>', page.content.decode()).group(1)
    key = ApiKey.objects.get(org=member.org)
    assert (key.name, key.role, secret.split("_")[1]) == ("ci-deploy", Role.BUYER, key.prefix)
    answer = api_client.get("/api/v1/reservations/", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert answer.status_code == 200
    # listed afterwards by prefix, never with the secret again
    listing = client.get("/org/keys/").content.decode()
    assert f"{key.prefix}…" in listing
    assert secret not in listing


def test_a_revoked_key_stops_working(client, api_client):
    _signed_in(client)
    page = client.post("/org/keys/", {"name": "old", "role": Role.BUYER}).content.decode()
    secret = re.search(r'<pre id="secret">(gpm_[^<]+)</pre>', page).group(1)
    key = ApiKey.objects.get(name="old")

    client.post(f"/org/keys/{key.pk}/revoke/")

    assert (
        api_client.get("/api/v1/reservations/", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code
        == 401
    )
    assert "revoked" in client.get("/org/keys/").content.decode()


def test_an_admin_cannot_make_an_owner_key(client):
    _signed_in(client, Role.ADMIN)

    page = client.post("/org/keys/", {"name": "sneaky", "role": Role.OWNER})

    assert page.status_code == 400
    assert not ApiKey.objects.exists()
    assert 'value="owner"' not in client.get("/org/keys/").content.decode()


def test_another_organizations_key_cannot_be_revoked(client):
    _signed_in(client)
    other = MembershipFactory(role=Role.OWNER)
    theirs = api_key_create(org=other.org, created_by=other.user, name="x", role="buyer").api_key

    assert client.post(f"/org/keys/{theirs.pk}/revoke/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None
