from __future__ import annotations

import base64

import pytest

from accounts.models import ApiKey, Membership, Role, User
from accounts.services import hash_key
from tests.factories import MembershipFactory, UserFactory, make_org_with_key

pytestmark = pytest.mark.django_db


def test_it_creates_users_with_email_login():
    user = User.objects.create_user("Ada@Example.com", "a-good-password-1")
    assert user.email == "ada@example.com"
    assert user.check_password("a-good-password-1")


def test_it_makes_the_caller_owner_of_a_new_org(api_client):
    user = UserFactory()
    api_client.force_authenticate(user)
    response = api_client.post("/api/v1/orgs/", {"name": "Acme Labs"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert (body["name"], body["slug"], body["role"]) == ("Acme Labs", "acme-labs", "owner")
    assert Membership.objects.get(user=user, org_id=body["id"]).role == Role.OWNER


def test_it_issues_a_key_shown_once_and_stored_hashed(api_client):
    membership = MembershipFactory()
    api_client.force_authenticate(membership.user)
    response = api_client.post(
        "/api/v1/api-keys/",
        {"org": membership.org.pk, "name": "ci", "role": "buyer"},
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    secret = body["key"]
    stored = ApiKey.objects.get(pk=body["id"])
    assert stored.key_hash == hash_key(secret) and secret not in stored.key_hash
    assert secret.startswith(f"gpm_{stored.prefix}_")
    listed = api_client.get("/api/v1/api-keys/", HTTP_X_ORG=str(membership.org.pk)).json()[
        "results"
    ]
    assert [k["prefix"] for k in listed] == [stored.prefix]
    assert "key" not in listed[0]


def test_it_authenticates_bearer_keys_and_records_last_use(api_client):
    keyed = make_org_with_key(role="buyer")
    response = api_client.get("/api/v1/orgs/", HTTP_AUTHORIZATION=f"Bearer {keyed.secret}")
    assert response.status_code == 200
    assert response.json()["results"] == [
        {"id": keyed.org.pk, "name": keyed.org.name, "slug": keyed.org.slug, "role": "buyer"}
    ]
    keyed.key.refresh_from_db()
    assert keyed.key.last_used_at is not None


def test_it_rejects_revoked_and_forged_keys(api_client):
    keyed = make_org_with_key()
    api_client.force_authenticate(keyed.user)
    assert api_client.delete(f"/api/v1/api-keys/{keyed.key.pk}/").status_code == 200
    api_client.force_authenticate(None)
    for secret in (keyed.secret, keyed.secret[:-2] + "xx", "gpm_nope", "garbage"):
        response = api_client.get("/api/v1/reservations/", HTTP_AUTHORIZATION=f"Bearer {secret}")
        assert response.status_code == 401, secret
        assert response.json()["error"]["code"] == "authentication_failed"


def test_it_refuses_keys_for_an_org_the_caller_does_not_manage(api_client):
    outsider = make_org_with_key(role="owner")
    victim = MembershipFactory()
    response = api_client.post(
        "/api/v1/api-keys/",
        {"org": victim.org.pk, "name": "x", "role": "owner"},
        format="json",
        **outsider.headers,
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    buyer_member = MembershipFactory(org=victim.org, role=Role.BUYER)
    api_client.force_authenticate(buyer_member.user)
    response = api_client.post(
        "/api/v1/api-keys/", {"org": victim.org.slug, "name": "x", "role": "buyer"}, format="json"
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"name": "x", "role": "buyer"}, "validation_error"),
        ({"org": "1", "name": "x", "role": "emperor"}, "validation_error"),
        ({"org": "1", "name": "x", "role": "buyer", "admin": True}, "unknown_field"),
        (["not", "an", "object"], "invalid_body"),
    ],
)
def test_it_answers_bad_key_requests_with_a_clear_4xx(api_client, body, code):
    membership = MembershipFactory()
    api_client.force_authenticate(membership.user)
    response = api_client.post("/api/v1/api-keys/", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]


@pytest.mark.parametrize(
    "hint",
    ["²", "acme\x00", "9" * 5000],
    ids=["a-digit-int-refuses", "a-nul-byte", "past-int-digit-limit"],
)
def test_it_answers_an_org_hint_that_names_no_org_with_403(api_client, hint):
    # given a signed-in member (each hint breaks a naive lookup: int() raises ValueError, or
    # PostgreSQL refuses a NUL byte)
    membership = MembershipFactory()
    api_client.force_authenticate(membership.user)
    # when the X-Org header names no organization
    response = api_client.get("/api/v1/api-keys/", HTTP_X_ORG=hint)
    # then it is an organization the user is not a member of
    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": "permission_denied",
        "message": "You are not a member of that organization.",
    }


def test_it_answers_an_org_field_that_names_no_org_with_403(api_client):
    membership = MembershipFactory()
    api_client.force_authenticate(membership.user)
    body = {"org": "²", "name": "ci", "role": "buyer"}
    response = api_client.post("/api/v1/api-keys/", body, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert not ApiKey.objects.exists()


def test_it_answers_malformed_json_with_400(api_client):
    api_client.force_authenticate(UserFactory())
    response = api_client.post("/api/v1/orgs/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_request"


def test_it_needs_authentication_for_org_endpoints(api_client):
    response = api_client.get("/api/v1/orgs/")
    assert response.status_code in (401, 403)
    assert response.json()["error"]["code"] == "not_authenticated"


def test_http_basic_authentication_is_not_accepted(client, django_user_model):
    # a password on every request would be an unthrottled password-guessing oracle
    django_user_model.objects.create_user("basic@example.com", "correct-horse-battery")
    credentials = base64.b64encode(b"basic@example.com:correct-horse-battery").decode()

    response = client.get("/api/v1/orgs/", HTTP_AUTHORIZATION=f"Basic {credentials}")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
