"""Reads for accounts."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from .models import ApiKey, Invitation, Membership, User
from .services import hash_key


def memberships_for_user(*, user: User) -> QuerySet[Membership]:
    return Membership.objects.filter(user=user).select_related("org").order_by("org_id")


def api_keys_for_orgs(*, org_ids) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(org_id__in=org_ids).order_by("-id")


def members_of_org(*, org_id: int) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(org_id=org_id).select_related("user").order_by("created_at", "pk")
    )


def pending_invitations_of_org(*, org_id: int) -> QuerySet[Invitation]:
    return (
        Invitation.objects.filter(
            org_id=org_id,
            accepted_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
        )
        .select_related("invited_by")
        .order_by("-created_at")
    )


def invitation_by_token(*, token: str) -> Invitation | None:
    """The invitation of a link's token, whatever its state, or None."""
    return (
        Invitation.objects.select_related("org", "invited_by")
        .filter(token_hash=hash_key(token))
        .first()
    )
