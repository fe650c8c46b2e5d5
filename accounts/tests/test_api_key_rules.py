"""An API key works only while its creator could still issue it, until it expires, and is
rotated without a gap; its last use is written at most once a minute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Membership, Role
from accounts.services import api_key_create
from tests.factories import MembershipFactory, make_org_with_key

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def bearer(secret: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def works(client, secret: str) -> bool:
    response = client.get("/api/v1/orgs/", **bearer(secret))
    assert response.status_code in (200, 401), response.content
    return response.status_code == 200


def key_by(membership: Membership, role: str, **options) -> str:
    return api_key_create(
        org=membership.org, created_by=membership.user, name="k", role=role, **options
    ).secret


def test_a_key_stops_working_when_its_creator_leaves(client):
    admin = MembershipFactory(role=Role.ADMIN)
    secret = key_by(admin, Role.BUYER)
    assert works(client, secret)

    admin.delete()

    assert not works(client, secret)


@pytest.mark.parametrize(
    ("key_role", "demoted_to", "still_works"),
    [
        (Role.ADMIN, Role.BUYER, False),
        (Role.FINANCE, Role.BUYER, False),
        (Role.BUYER, Role.BUYER, True),
        (Role.BUYER, Role.ADMIN, True),
        (Role.OWNER, Role.ADMIN, False),
    ],
)
def test_a_key_works_while_its_creators_role_covers_it(client, key_role, demoted_to, still_works):
    owner = MembershipFactory(role=Role.OWNER)
    secret = key_by(owner, key_role)

    Membership.objects.filter(pk=owner.pk).update(role=demoted_to)

    assert works(client, secret) is still_works


@pytest.mark.parametrize(("caller", "asked"), [(Role.ADMIN, Role.OWNER)])
def test_no_key_is_minted_above_its_creator(api_client, caller, asked):
    member = MembershipFactory(role=caller)
    api_client.force_authenticate(member.user)
    response = api_client.post(
        "/api/v1/api-keys/", {"org": member.org.pk, "name": "x", "role": asked}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_an_admin_key_cannot_mint_an_owner_key(api_client):
    keyed = make_org_with_key(role=Role.ADMIN)
    response = api_client.post(
        "/api/v1/api-keys/",
        {"org": keyed.org.pk, "name": "x", "role": "owner"},
        format="json",
        **keyed.headers,
    )
    assert response.status_code == 403


def test_a_key_expires(api_client):
    owner = MembershipFactory()
    api_client.force_authenticate(owner.user)
    with time_machine.travel(T0, tick=False):
        response = api_client.post(
            "/api/v1/api-keys/",
            {"org": owner.org.pk, "name": "ci", "role": "buyer",
             "expires_at": "2026-06-01T13:00:00Z"},
            format="json",
        )  # fmt: skip
        assert response.status_code == 201, response.content
        assert response.json()["expires_at"] == "2026-06-01T13:00:00Z"
        secret = response.json()["key"]
        api_client.force_authenticate(None)
        assert works(api_client, secret)
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        assert not works(api_client, secret)


def test_an_expiry_in_the_past_is_refused(api_client):
    owner = MembershipFactory()
    api_client.force_authenticate(owner.user)
    response = api_client.post(
        "/api/v1/api-keys/",
        {"org": owner.org.pk, "name": "ci", "role": "buyer", "expires_at": "2001-01-01T00:00:00Z"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_expiry"


def test_rotation_keeps_both_keys_working_for_the_overlap(api_client):
    owner = MembershipFactory()
    old = api_key_create(org=owner.org, created_by=owner.user, name="deploy", role="buyer")
    api_client.force_authenticate(owner.user)
    with time_machine.travel(T0, tick=False):
        response = api_client.post(
            f"/api/v1/api-keys/{old.api_key.pk}/rotate/", {"overlap_seconds": 3600}, format="json"
        )
        assert response.status_code == 201, response.content
        new = response.json()
        assert (new["name"], new["role"]) == ("deploy", "buyer")
        api_client.force_authenticate(None)
        assert works(api_client, old.secret) and works(api_client, new["key"])
    with time_machine.travel(T0 + timedelta(seconds=3600), tick=False):
        assert not works(api_client, old.secret)
        assert works(api_client, new["key"])


def test_rotation_without_overlap_revokes_at_once_and_stays_in_the_org(api_client):
    owner = MembershipFactory()
    old = api_key_create(org=owner.org, created_by=owner.user, name="deploy", role="buyer")
    stranger = MembershipFactory()
    api_client.force_authenticate(stranger.user)
    response = api_client.post(f"/api/v1/api-keys/{old.api_key.pk}/rotate/", {}, format="json")
    assert response.status_code == 404

    api_client.force_authenticate(owner.user)
    response = api_client.post(f"/api/v1/api-keys/{old.api_key.pk}/rotate/", {}, format="json")
    assert response.status_code == 201
    api_client.force_authenticate(None)
    assert not works(api_client, old.secret)
    assert works(api_client, response.json()["key"])


def test_last_use_is_written_at_most_once_a_minute(client):
    keyed = make_org_with_key(role=Role.BUYER)

    def last_use_writes(at: datetime) -> int:
        with time_machine.travel(at, tick=False), CaptureQueriesContext(connection) as queries:
            assert works(client, keyed.secret)
        return sum('UPDATE "accounts_apikey"' in q["sql"] for q in queries.captured_queries)

    assert last_use_writes(T0) == 1
    assert last_use_writes(T0 + timedelta(seconds=30)) == 0
    assert last_use_writes(T0 + timedelta(seconds=61)) == 1
    keyed.key.refresh_from_db()
    assert keyed.key.last_used_at == T0 + timedelta(seconds=61)
