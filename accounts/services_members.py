"""Writes for an organization's members: change a role, remove a member, invite someone by
e-mail and accept the invitation.

The rules, for every caller (pages today, the API tomorrow):
- nobody grants a role their own does not cover (`role_covers`): an admin grants no owner
  role, and a member's own role never goes up by their own hand;
- an admin does not change nor remove an owner;
- the last owner is neither removed nor demoted: changes to one organization's members take
  turns on its row, so two owners demoting each other at once cannot both succeed.
An API key dies with its creator's removal or demotion below it (`api_key_authenticate`
checks the creator's current role), so nothing here touches keys.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from common.errors import DomainError

from .models import Invitation, Membership, Organization, Role, User, role_covers
from .services import hash_key, user_create

INVITATION_LIFETIME = timedelta(days=7)
# Pending invitations an organization may have at once: invitations send e-mail to any
# address, so a member cannot make the platform send mail without bound.
MAX_PENDING_INVITATIONS = 50


def _require_may_manage(*, actor_role: str, member: Membership, new_role: str | None) -> None:
    if member.role == Role.OWNER and actor_role != Role.OWNER:
        raise DomainError("permission_denied", "Only an owner may change or remove an owner.")
    if new_role is not None and not role_covers(actor_role, new_role):
        raise DomainError(
            "permission_denied", f"A {actor_role} cannot give the role {new_role}.", field="role"
        )


def _locked_member(member: Membership) -> Membership:
    """`member` as it is now, its organization's row locked first: every change to the
    organization's members (and invitations) takes turns on it, one lock in one order."""
    Organization.objects.select_for_update().filter(pk=member.org_id).first()
    current = Membership.objects.select_related("org").filter(pk=member.pk).first()
    if current is None:  # removed meanwhile
        raise DomainError("not_found", "This member has left the organization.")
    return current


def _require_another_owner(member: Membership) -> None:
    """Refuse to take the owner role from `member` if no other owner would be left."""
    if member.role != Role.OWNER:
        return
    others = Membership.objects.filter(org_id=member.org_id, role=Role.OWNER).exclude(pk=member.pk)
    if not others.exists():
        raise DomainError(
            "last_owner", "The organization's last owner cannot be removed or demoted."
        )


@transaction.atomic
def membership_change_role(*, member: Membership, role: str, actor_role: str) -> Membership:
    member = _locked_member(member)
    if role not in Role.values:
        raise DomainError("invalid_role", f"No such role: {role}.", field="role")
    if role == member.role:
        return member
    _require_may_manage(actor_role=actor_role, member=member, new_role=role)
    _require_another_owner(member)
    member.role = role
    member.save(update_fields=["role"])
    return member


@transaction.atomic
def membership_remove(*, member: Membership, actor_role: str) -> None:
    member = _locked_member(member)
    _require_may_manage(actor_role=actor_role, member=member, new_role=None)
    _require_another_owner(member)
    member.delete()


# --- invitations ---------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedInvitation:
    invitation: Invitation
    token: str  # in the e-mailed link only, never stored


def invitation_link(*, site_url: str, token: str) -> str:
    return site_url.rstrip("/") + reverse("invitation", kwargs={"token": token})


@transaction.atomic
def invitation_create(
    *, org: Organization, email: str, role: str, invited_by: User, inviter_role: str, site_url: str
) -> IssuedInvitation:
    """Invite `email` to join `org` as `role` (no higher than the inviter's), and e-mail the
    link. An open invitation to the same address is replaced: the old link stops working."""
    email = email.strip().lower()
    if not role_covers(inviter_role, role):
        raise DomainError(
            "permission_denied", f"A {inviter_role} cannot invite with the role {role}.",
            field="role",
        )  # fmt: skip
    # The organization's row serialises the invitations of one organization: the count of
    # pending ones below cannot be passed by two invitations sent at once.
    Organization.objects.select_for_update().filter(pk=org.pk).first()
    if Membership.objects.filter(org=org, user__email=email).exists():
        raise DomainError("already_member", f"{email} is a member already.", field="email")
    now = timezone.now()
    _open_invitations(org).filter(email=email).update(revoked_at=now)
    if _open_invitations(org).filter(expires_at__gt=now).count() >= MAX_PENDING_INVITATIONS:
        raise DomainError(
            "too_many_invitations",
            f"An organization may have {MAX_PENDING_INVITATIONS} pending invitations; "
            "revoke some first.",
        )
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        org=org, email=email, role=role, token_hash=hash_key(token), invited_by=invited_by,
        created_at=now, expires_at=now + INVITATION_LIFETIME,
    )  # fmt: skip
    _send_invitation(invitation, invitation_link(site_url=site_url, token=token))
    return IssuedInvitation(invitation=invitation, token=token)


def _open_invitations(org: Organization):
    return Invitation.objects.filter(org=org, accepted_at__isnull=True, revoked_at__isnull=True)


def _send_invitation(invitation: Invitation, link: str) -> None:
    inviter = invitation.invited_by.email if invitation.invited_by else "A member"
    body = (
        f"{inviter} invites you to join {invitation.org.name} on GPU Market as "
        f"{invitation.get_role_display().lower()}.\n\n"
        f"Accept: {link}\n\n"
        f"The link works until {invitation.expires_at:%Y-%m-%d %H:%M} UTC.\n"
    )
    subject = f"[GPU Market] Join {invitation.org.name}"
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [invitation.email])


def invitation_revoke(*, invitation: Invitation) -> Invitation:
    # Conditional: an invitation accepted meanwhile stays accepted.
    Invitation.objects.filter(
        pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=timezone.now())
    invitation.refresh_from_db()
    return invitation


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user: User) -> Membership:
    """`user` joins the organization with the invitation's role. Only the invited address
    may accept, once, while the invitation is pending."""
    invitation = Invitation.objects.select_for_update().select_related("org").get(pk=invitation.pk)
    if not invitation.is_pending:
        raise DomainError("invitation_gone", "This invitation was used, revoked or has expired.")
    if user.email.lower() != invitation.email:
        raise DomainError(
            "permission_denied", f"This invitation is for {invitation.email}, not {user.email}."
        )
    if Membership.objects.filter(org=invitation.org, user=user).exists():
        raise DomainError("already_member", f"You are a member of {invitation.org.name} already.")
    membership = Membership.objects.create(user=user, org=invitation.org, role=invitation.role)
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_at"])
    return membership


@transaction.atomic
def invitation_sign_up(*, invitation: Invitation, password: str) -> User:
    """A new account for the invited address, and its membership: both or neither."""
    exists = DomainError(
        "account_exists", f"An account for {invitation.email} exists: sign in to accept."
    )
    if User.objects.filter(email=invitation.email).exists():
        raise exists
    try:
        with transaction.atomic():
            user = user_create(email=invitation.email, password=password)
    except IntegrityError:  # the same address signed up a moment ago
        raise exists from None
    invitation_accept(invitation=invitation, user=user)
    return user
