"""The organization's members page (/org/members/): every member may read who belongs to the
organization; owners and admins (`manage_org`) change roles, remove members, invite by
e-mail and revoke pending invitations. The invitation link (/invites/<token>/) joins the
invited address, signing it up first when it has no account. The rules are the services'
(accounts/services_members.py)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from common.api.errors import http_status
from common.errors import DomainError
from common.page_limits import rate_limited

from .actors import actor_for_request, choose_org
from .decorators import member_required
from .forms import InvitationForm, InvitationSignUpForm, MemberRoleForm
from .models import Invitation, Membership, User
from .selectors import invitation_by_token, members_of_org, pending_invitations_of_org
from .services_members import (
    invitation_accept,
    invitation_create,
    invitation_revoke,
    invitation_sign_up,
    membership_change_role,
    membership_remove,
)

MEMBERS_SHOWN = 500


def _members_page(request, *, invite_form=None, error: str = "", status: int = 200):
    actor = actor_for_request(request)
    manages = actor.can("manage_org")
    context = {
        "org": actor.org,
        "members": members_of_org(org_id=actor.org.pk)[:MEMBERS_SHOWN],
        "invitations": pending_invitations_of_org(org_id=actor.org.pk) if manages else (),
        "manages": manages,
        "grantable_roles": MemberRoleForm(member_role=actor.role).fields["role"].choices,
        "invite_form": invite_form or InvitationForm(member_role=actor.role),
        "error": error,
    }
    return render(request, "accounts/members.html", context, status=status)


def _refused_in_form(request, error: DomainError, **page):
    """A refusal the member can correct (400) shown on the page; others (403) go to the
    error page."""
    if http_status(error) != 400:
        raise error
    return _members_page(request, error=error.message, status=400, **page)


@member_required("read")
@require_http_methods(["GET"])
def members(request):
    return _members_page(request)


def _member_of(request, member_id: int) -> Membership:
    member = members_of_org(org_id=actor_for_request(request).org.pk).filter(pk=member_id).first()
    if member is None:
        raise Http404("No such member")
    return member


@member_required("manage_org")
@require_POST
def member_role_action(request, member_id: int):
    actor = actor_for_request(request)
    member = _member_of(request, member_id)
    form = MemberRoleForm(request.POST, member_role=actor.role)
    if not form.is_valid():
        return _members_page(request, error="Choose one of the roles offered.", status=400)
    try:
        membership_change_role(member=member, role=form.cleaned_data["role"], actor_role=actor.role)
    except DomainError as error:
        return _refused_in_form(request, error)
    messages.success(request, f"{member.user.email} is now {form.cleaned_data['role']}.")
    return redirect("org-members")


@member_required("manage_org")
@require_POST
def member_remove_action(request, member_id: int):
    actor = actor_for_request(request)
    member = _member_of(request, member_id)
    try:
        membership_remove(member=member, actor_role=actor.role)
    except DomainError as error:
        return _refused_in_form(request, error)
    messages.success(request, f"{member.user.email} was removed from {actor.org.name}.")
    # Someone who removed themselves may no longer see the members.
    return redirect("home" if member.user_id == request.user.pk else "org-members")


@member_required("manage_org")
@require_POST
def invitation_create_action(request):
    actor = actor_for_request(request)
    form = InvitationForm(request.POST, member_role=actor.role)
    if not form.is_valid():
        return _members_page(request, invite_form=form, status=400)
    try:
        invitation_create(
            org=actor.org, email=form.cleaned_data["email"], role=form.cleaned_data["role"],
            invited_by=request.user, inviter_role=actor.role,
            site_url=request.build_absolute_uri("/"),
        )  # fmt: skip
    except DomainError as error:
        return _refused_in_form(request, error, invite_form=form)
    messages.success(request, f"Invitation sent to {form.cleaned_data['email']}.")
    return redirect("org-members")


@member_required("manage_org")
@require_POST
def invitation_revoke_action(request, invitation_id: int):
    actor = actor_for_request(request)
    invitation = pending_invitations_of_org(org_id=actor.org.pk).filter(pk=invitation_id).first()
    if invitation is None:
        raise Http404("No such pending invitation")
    invitation_revoke(invitation=invitation)
    messages.success(request, f"The invitation of {invitation.email} was revoked.")
    return redirect("org-members")


# --- the invitation link -------------------------------------------------------------------


def _pending_invitation(token: str) -> Invitation:
    invitation = invitation_by_token(token=token)
    if invitation is None:
        raise Http404("No such invitation")
    if not invitation.is_pending:
        raise DomainError("invitation_gone", "This invitation was used, revoked or has expired.")
    return invitation


# Creating an account here counts as sign-ups do (`auth`, per address).
@rate_limited(POST=("auth",))
@require_http_methods(["GET", "POST"])
def invitation(request, token: str):
    invitation = _pending_invitation(token)
    if request.user.is_authenticated:
        return _invitation_for_member(request, invitation)
    has_account = User.objects.filter(email=invitation.email).exists()
    form = InvitationSignUpForm(request.POST or None) if not has_account else None
    status = 200
    if request.method == "POST" and form is not None:
        if form.is_valid():
            try:
                user = invitation_sign_up(
                    invitation=invitation, password=form.cleaned_data["password"]
                )
            except DomainError as error:
                if http_status(error) != 400:
                    raise
                form.add_error(None, error.message)
            else:
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                return _joined(request, invitation)
        status = 400
    context = {"invitation": invitation, "form": form, "has_account": has_account}
    return render(request, "accounts/invitation.html", context, status=status)


def _invitation_for_member(request, invitation: Invitation):
    if request.method == "POST":
        invitation_accept(invitation=invitation, user=request.user)
        return _joined(request, invitation)
    context = {
        "invitation": invitation,
        "invited_here": request.user.email.lower() == invitation.email,
    }
    return render(request, "accounts/invitation.html", context)


def _joined(request, invitation: Invitation):
    choose_org(request, invitation.org_id)  # they came to act for it
    messages.success(
        request, f"You joined {invitation.org.name} as {invitation.get_role_display().lower()}."
    )
    return redirect("home")
