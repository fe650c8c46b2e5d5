"""Reads for accounts."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import ApiKey, Membership, User


def memberships_for_user(*, user: User) -> QuerySet[Membership]:
    return Membership.objects.filter(user=user).select_related("org").order_by("org_id")


def api_keys_for_orgs(*, org_ids) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(org_id__in=org_ids).order_by("-id")
