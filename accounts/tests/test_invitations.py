"""Invitations: sent by e-mail with a link, no role above the inviter's, at most 50 pending;
the link joins the invited address (signing it up first if needed), once, while pending;
other links get a clear 404 or 410 page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts.models import Invitation, Membership, Role, User
from accounts.services import hash_key
from accounts.services_members import MAX_PENDING_INVITATIONS
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

INVITED = "ada@example.com"


def _signed_in(client, role=Role.OWNER):
    member = MembershipFactory(role=role)
    client.force_login(member.user)
    return member


def _invite(client, email=INVITED, role=Role.BUYER):
    return client.post("/org/invitations/", {"email": email, "role": role})


def _link_in(mail) -> str:
    return re.search(r"http://testserver(/invites/[^/\s]+/)", mail.body).group(1)


def test_an_owner_invites_and_the_mail_carries_a_working_link(client, mailoutbox):
    owner = _signed_in(client)

    answer = _invite(client, email="Ada@Example.com", role=Role.FINANCE)

    assert answer.status_code == 302
    invitation = Invitation.objects.get()
    assert (invitation.org, invitation.email, invitation.role) == (owner.org, INVITED, "finance")
    assert invitation.invited_by == owner.user
    assert invitation.expires_at - invitation.created_at == timedelta(days=7)
    (mail,) = mailoutbox
    assert mail.to == [INVITED]
    token = _link_in(mail).split("/")[2]
    assert invitation.token_hash == hash_key(token)  # only the hash is stored
    assert token not in str(Invitation.objects.values().get())
    assert INVITED in client.get("/org/members/").content.decode()


def test_an_admin_cannot_invite_an_owner(client, mailoutbox):
    _signed_in(client, Role.ADMIN)

    answer = _invite(client, role=Role.OWNER)

    assert answer.status_code == 400
    assert not Invitation.objects.exists() and not mailoutbox


def test_a_member_cannot_be_invited_again(client):
    owner = _signed_in(client)
    MembershipFactory(org=owner.org, user=UserFactory(email=INVITED), role=Role.BUYER)

    answer = _invite(client)

    assert answer.status_code == 400
    assert "is a member already" in answer.content.decode()


def test_inviting_again_replaces_the_open_invitation(client, mailoutbox):
    _signed_in(client)
    _invite(client)
    first = _link_in(mailoutbox[0])

    _invite(client, role=Role.FINANCE)

    assert client.get(first).status_code == 410
    assert client.get(_link_in(mailoutbox[1])).status_code == 200
    assert Invitation.objects.filter(revoked_at__isnull=True).get().role == Role.FINANCE


def test_an_organization_has_at_most_50_pending_invitations(client, mailoutbox):
    _signed_in(client)
    for n in range(MAX_PENDING_INVITATIONS):
        assert _invite(client, email=f"p{n}@example.com").status_code == 302

    answer = _invite(client, email="one-more@example.com")

    assert answer.status_code == 400
    assert "revoke some first" in answer.content.decode()
    assert len(mailoutbox) == MAX_PENDING_INVITATIONS


def test_a_visitor_signs_up_from_the_link_and_joins_with_the_role(client, mailoutbox):
    owner = _signed_in(client)
    _invite(client, role=Role.FINANCE)
    link = _link_in(mailoutbox[0])
    client.logout()

    page = client.get(link)
    answer = client.post(link, {"password": "a-long-password-9"})

    assert INVITED in page.content.decode() and 'id="invite-sign-up"' in page.content.decode()
    assert answer.status_code == 302 and answer["Location"] == "/"
    user = User.objects.get(email=INVITED)
    assert Membership.objects.get(user=user).org == owner.org
    assert Membership.objects.get(user=user).role == Role.FINANCE
    assert client.get("/").context["user"] == user  # signed in
    assert client.get(link).status_code == 410  # used


def test_the_address_signed_up_is_the_invited_one_whatever_is_sent(client, mailoutbox):
    _signed_in(client)
    _invite(client)
    link = _link_in(mailoutbox[0])
    client.logout()

    client.post(link, {"password": "a-long-password-9", "email": "mallory@example.com"})

    assert User.objects.filter(email=INVITED).exists()
    assert not User.objects.filter(email="mallory@example.com").exists()


def test_a_weak_password_shows_the_form_again(client, mailoutbox):
    _signed_in(client)
    _invite(client)
    link = _link_in(mailoutbox[0])
    client.logout()

    answer = client.post(link, {"password": "123"})

    assert answer.status_code == 400
    assert not User.objects.filter(email=INVITED).exists()


def test_a_signed_in_invitee_joins_with_a_button(client, mailoutbox):
    owner = _signed_in(client)
    _invite(client)
    link = _link_in(mailoutbox[0])
    invitee = UserFactory(email=INVITED)
    client.force_login(invitee)

    page = client.get(link)
    answer = client.post(link)

    assert 'id="join"' in page.content.decode()
    assert answer.status_code == 302
    assert Membership.objects.get(user=invitee, org=owner.org).role == Role.BUYER


def test_an_invitee_with_an_account_is_sent_to_sign_in_and_back(client, mailoutbox):
    _signed_in(client)
    _invite(client)
    link = _link_in(mailoutbox[0])
    UserFactory(email=INVITED)
    client.logout()

    html = client.get(link).content.decode()

    assert f'href="/login/?next={link}"' in html
    assert client.post(link, {"password": "a-long-password-9"}).status_code == 200
    assert User.objects.filter(email=INVITED).count() == 1


def test_someone_else_signed_in_cannot_accept(client, mailoutbox):
    owner = _signed_in(client)
    _invite(client)
    link = _link_in(mailoutbox[0])
    stranger = UserFactory()
    client.force_login(stranger)

    page = client.get(link)
    answer = client.post(link)

    assert 'id="wrong-account"' in page.content.decode()
    assert answer.status_code == 403
    assert not Membership.objects.filter(user=stranger, org=owner.org).exists()


def test_a_revoked_invitation_is_gone(client, mailoutbox):
    _signed_in(client)
    _invite(client)
    link = _link_in(mailoutbox[0])

    client.post(f"/org/invitations/{Invitation.objects.get().pk}/revoke/")

    client.get("/org/members/")  # the messages shown
    assert INVITED not in client.get("/org/members/").content.decode()
    client.logout()
    answer = client.get(link)
    assert answer.status_code == 410
    assert "No longer valid" in answer.content.decode()
    assert client.post(link, {"password": "a-long-password-9"}).status_code == 410


def test_an_expired_invitation_is_gone(client, mailoutbox):
    _signed_in(client)
    _invite(client)
    link = _link_in(mailoutbox[0])
    client.logout()

    with time_machine.travel(timezone.now() + timedelta(days=7, seconds=1)):
        assert client.get(link).status_code == 410


@pytest.mark.parametrize("token", ["nope", "x" * 300, "%00", "é"])
def test_an_unknown_token_is_not_found(client, token):
    assert client.get(f"/invites/{token}/").status_code == 404


def test_another_organizations_invitation_cannot_be_revoked(client, mailoutbox):
    _signed_in(client)
    _invite(client)
    invitation = Invitation.objects.get()
    _signed_in(client)  # the owner of another organization

    assert client.post(f"/org/invitations/{invitation.pk}/revoke/").status_code == 404
    invitation.refresh_from_db()
    assert invitation.revoked_at is None
