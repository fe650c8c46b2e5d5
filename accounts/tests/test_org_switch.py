"""Members of several organizations pick the one they act for on the pages (kept in the
session, checked against their memberships on every request); anyone signed in can make a
new organization of their own; an accepted invitation switches to the organization joined."""

from __future__ import annotations

import re

import pytest

from accounts.models import Membership, Organization, Role
from tests.factories import MembershipFactory, OfferFactory
from tests.test_reservation_pages import _reserved

pytestmark = pytest.mark.django_db


@pytest.fixture
def member_of_two(client):
    """Owner of Alpha (the first organization) and buyer in Beta, each with a reservation."""
    alpha = MembershipFactory(role=Role.OWNER, org__name="Alpha")
    beta = MembershipFactory(role=Role.BUYER, org__name="Beta", user=alpha.user)
    assert alpha.org_id < beta.org_id
    client.force_login(alpha.user)
    return alpha, beta


def _reservation_numbers(client, html: str | None = None) -> list[int]:
    html = html or client.get("/reservations/").content.decode()
    return [int(n) for n in re.findall(r'<tr data-reservation="(\d+)"', html)]


def _reservation_of(membership):
    offer = OfferFactory(available=3)
    keyed = type("Keyed", (), {"org": membership.org, "user": membership.user})
    return _reserved(keyed, offer)


def test_pages_act_for_the_first_organization_until_another_is_chosen(client, member_of_two):
    alpha, beta = member_of_two
    in_alpha, in_beta = _reservation_of(alpha), _reservation_of(beta)
    assert _reservation_numbers(client) == [in_alpha.pk]

    response = client.post("/org/switch/", {"org": beta.org_id, "next": "/reservations/"})

    assert response.status_code == 302 and response["Location"] == "/reservations/"
    html = client.get("/reservations/").content.decode()
    assert _reservation_numbers(client, html) == [in_beta.pk]
    assert f'<option value="{beta.org_id}" selected>Beta (buyer)</option>' in html
    assert "You now act for Beta as buyer." in html
    # as a buyer there: no keys page in the navigation, and the page itself is refused
    assert 'href="/org/keys/"' not in html
    assert client.get("/org/keys/").status_code == 403


def test_the_x_org_header_still_names_the_organization(client, member_of_two):
    alpha, beta = member_of_two
    in_alpha = _reservation_of(alpha)
    client.post("/org/switch/", {"org": beta.org_id})

    html = client.get("/reservations/", HTTP_X_ORG=str(alpha.org_id)).content.decode()

    assert f'data-reservation="{in_alpha.pk}"' in html


def test_no_switch_to_an_organization_they_are_not_in(client, member_of_two):
    alpha, _ = member_of_two
    stranger = MembershipFactory(role=Role.OWNER, org__name="Gamma").org
    _reservation_of(Membership.objects.get(org=stranger))

    for org in (stranger.pk, "abc", "", "99999999999999999999999", "-3"):
        response = client.post("/org/switch/", {"org": org}, follow=True)
        assert response.status_code == 200
        assert "You are not a member of that organization." in response.content.decode()
    assert _reservation_numbers(client) == []  # still Alpha's (none)


def test_removed_from_the_chosen_organization_they_act_for_their_first_again(client, member_of_two):
    alpha, beta = member_of_two
    client.post("/org/switch/", {"org": beta.org_id})
    beta.delete()

    response = client.get("/org/keys/")  # Alpha's, where they are owner

    assert response.status_code == 200
    assert "API keys of Alpha" in response.content.decode()


def test_the_switch_goes_back_only_to_our_own_pages(client, member_of_two):
    _, beta = member_of_two
    for target in ("https://evil.example/", "//evil.example/x"):
        response = client.post("/org/switch/", {"org": beta.org_id, "next": target})
        assert response["Location"] == "/"


def test_someone_in_no_organization_makes_one_and_lands_on_the_quote_page(client):
    member = MembershipFactory(role=Role.OWNER)
    user = member.user
    member.delete()
    client.force_login(user)
    assert 'href="/org/new/"' in client.get("/").content.decode()

    refused = client.post("/org/new/", {"name": ""})
    assert refused.status_code == 400
    assert "This field is required." in refused.content.decode()

    response = client.post("/org/new/", {"name": "Delta Labs"})

    assert response.status_code == 302 and response["Location"] == "/quote/"
    org = Organization.objects.get(name="Delta Labs")
    assert Membership.objects.get(user=user, org=org).role == Role.OWNER
    assert client.get("/quote/").status_code == 200


def test_a_new_organization_is_the_one_acted_for(client, member_of_two):
    client.post("/org/new/", {"name": "Epsilon"})

    html = client.get("/org/keys/").content.decode()

    assert "API keys of Epsilon" in html


def test_joining_by_invitation_acts_for_the_organization_joined(client, member_of_two, mailoutbox):
    alpha, _ = member_of_two
    inviter = MembershipFactory(role=Role.OWNER, org__name="Zeta")
    client.force_login(inviter.user)
    client.post("/org/invitations/", {"email": alpha.user.email, "role": Role.ADMIN})
    link = re.search(r"http://testserver(/invites/[^/\s]+/)", mailoutbox[-1].body).group(1)
    client.force_login(alpha.user)

    client.post(link)

    html = client.get("/org/keys/").content.decode()
    assert "API keys of Zeta" in html
    assert "You joined Zeta as admin." in html
