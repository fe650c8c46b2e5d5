"""The organization's members page: every member reads the list; owners and admins change
roles and remove members under the rules of accounts/services_members.py, and the API keys
of a removed or demoted member stop working."""

from __future__ import annotations

import pytest

from accounts.models import Membership, Role
from accounts.services import api_key_create
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def _signed_in(client, role=Role.OWNER, org=None):
    member = MembershipFactory(role=role, **({"org": org} if org else {}))
    client.force_login(member.user)
    return member


def _role_of(member: Membership) -> str | None:
    return Membership.objects.filter(pk=member.pk).values_list("role", flat=True).first()


def test_it_lists_members_with_role_and_joined_date(client):
    me = _signed_in(client, Role.BUYER)
    other = MembershipFactory(org=me.org, role=Role.FINANCE)

    html = client.get("/org/members/").content.decode()

    assert me.user.email in html and other.user.email in html
    assert "Finance" in html
    assert other.created_at.strftime("%Y-%m-%d") in html
    # a buyer reads, and is offered no change
    assert "Change role" not in html and 'id="invite-form"' not in html


def test_it_lists_no_other_organizations_members(client):
    _signed_in(client)
    stranger = MembershipFactory(role=Role.OWNER)

    assert stranger.user.email not in client.get("/org/members/").content.decode()


def test_the_page_reads_a_fixed_number_of_queries(client, django_assert_max_num_queries):
    me = _signed_in(client)
    for role in (Role.BUYER, Role.FINANCE, Role.PROVIDER, Role.ADMIN):
        MembershipFactory(org=me.org, role=role)
    client.post("/org/invitations/", {"email": "x@example.com", "role": Role.BUYER})

    with django_assert_max_num_queries(8):
        page = client.get("/org/members/")

    assert page.content.decode().count("Change role") == 5


def test_an_owner_changes_a_role(client):
    me = _signed_in(client)
    other = MembershipFactory(org=me.org, role=Role.BUYER)

    answer = client.post(f"/org/members/{other.pk}/role/", {"role": Role.FINANCE})

    assert answer.status_code == 302
    assert _role_of(other) == Role.FINANCE


def test_an_admin_cannot_make_an_owner(client):
    me = _signed_in(client, Role.ADMIN)
    other = MembershipFactory(org=me.org, role=Role.BUYER)

    answer = client.post(f"/org/members/{other.pk}/role/", {"role": Role.OWNER})

    assert answer.status_code == 400
    assert _role_of(other) == Role.BUYER


def test_an_admin_cannot_demote_nor_remove_an_owner(client):
    me = _signed_in(client, Role.ADMIN)
    owner = MembershipFactory(org=me.org, role=Role.OWNER)

    demoted = client.post(f"/org/members/{owner.pk}/role/", {"role": Role.BUYER})
    removed = client.post(f"/org/members/{owner.pk}/remove/")

    assert (demoted.status_code, removed.status_code) == (403, 403)
    assert _role_of(owner) == Role.OWNER


def test_an_admin_cannot_raise_their_own_role(client):
    me = _signed_in(client, Role.ADMIN)
    MembershipFactory(org=me.org, role=Role.OWNER)

    answer = client.post(f"/org/members/{me.pk}/role/", {"role": Role.OWNER})

    assert answer.status_code == 400
    assert _role_of(me) == Role.ADMIN


def test_the_last_owner_is_neither_demoted_nor_removed(client):
    me = _signed_in(client)

    demoted = client.post(f"/org/members/{me.pk}/role/", {"role": Role.ADMIN})
    removed = client.post(f"/org/members/{me.pk}/remove/")

    assert (demoted.status_code, removed.status_code) == (400, 400)
    assert "last owner" in removed.content.decode()
    assert _role_of(me) == Role.OWNER


def test_an_owner_steps_down_when_another_owner_remains(client):
    me = _signed_in(client)
    MembershipFactory(org=me.org, role=Role.OWNER)

    client.post(f"/org/members/{me.pk}/role/", {"role": Role.ADMIN})

    assert _role_of(me) == Role.ADMIN


def test_an_owner_removes_a_member_whose_keys_then_stop_working(client, api_client):
    me = _signed_in(client)
    other = MembershipFactory(org=me.org, role=Role.BUYER)
    secret = api_key_create(
        org=me.org, created_by=other.user, name="theirs", role=Role.BUYER
    ).secret
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    assert api_client.get("/api/v1/reservations/", **auth).status_code == 200

    answer = client.post(f"/org/members/{other.pk}/remove/")

    assert answer.status_code == 302
    assert _role_of(other) is None
    assert api_client.get("/api/v1/reservations/", **auth).status_code == 401


def test_a_demoted_members_keys_above_their_new_role_stop_working(client, api_client):
    me = _signed_in(client)
    other = MembershipFactory(org=me.org, role=Role.ADMIN)
    secret = api_key_create(org=me.org, created_by=other.user, name="k", role=Role.ADMIN).secret
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}

    client.post(f"/org/members/{other.pk}/role/", {"role": Role.BUYER})

    assert api_client.get("/api/v1/reservations/", **auth).status_code == 401


def test_another_organizations_member_is_not_found(client):
    _signed_in(client)
    stranger = MembershipFactory(org=MembershipFactory().org, user=UserFactory(), role=Role.BUYER)

    assert client.post(f"/org/members/{stranger.pk}/remove/").status_code == 404
    assert client.post(f"/org/members/{stranger.pk}/role/", {"role": "admin"}).status_code == 404
    assert _role_of(stranger) == Role.BUYER


def test_an_unknown_role_is_a_bad_request(client):
    me = _signed_in(client)
    other = MembershipFactory(org=me.org, role=Role.BUYER)

    assert client.post(f"/org/members/{other.pk}/role/", {"role": "emperor"}).status_code == 400
    assert _role_of(other) == Role.BUYER


@pytest.mark.parametrize(
    ("role", "links"),
    [
        (Role.OWNER, {"/org/members/", "/org/budget/", "/invoices/spend/"}),
        (Role.FINANCE, {"/org/members/", "/org/budget/", "/invoices/spend/"}),
        (Role.BUYER, {"/org/members/"}),
        (Role.PROVIDER, {"/org/members/"}),
    ],
)
def test_the_navigation_links_the_organization_pages_a_role_may_open(client, role, links):
    _signed_in(client, role)

    html = client.get("/").content.decode()

    for path in ("/org/members/", "/org/budget/", "/invoices/spend/"):
        assert (f'href="{path}"' in html) is (path in links), path


def test_an_owner_who_leaves_is_sent_home(client):
    me = _signed_in(client)
    MembershipFactory(org=me.org, role=Role.OWNER)

    answer = client.post(f"/org/members/{me.pk}/remove/")

    assert answer.status_code == 302 and answer["Location"] == "/"
    assert _role_of(me) is None
    assert client.get("/").status_code == 200
