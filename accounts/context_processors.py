"""What every page's template may ask about the signed-in member."""

from __future__ import annotations

from django.utils.functional import SimpleLazyObject

from accounts.actors import actor_for_request
from accounts.selectors import memberships_for_user
from common.errors import DomainError


class MemberCan:
    """`{% if member_can.billing %}`: whether the member may do that in the organization they
    act for. Looked up only when a template asks, with the actor the view already resolved."""

    def __init__(self, request):
        self._request = request

    def __getitem__(self, permission: str) -> bool:
        user = getattr(self._request, "user", None)
        if user is None or not user.is_authenticated:
            return False
        try:
            return actor_for_request(self._request).can(permission)
        except DomainError:  # no organization, or an X-Org they are not a member of
            return False


def member_can(request) -> dict:
    return {"member_can": MemberCan(request)}


def org_choice(request) -> dict:
    """`org_choice.current` and `org_choice.memberships` for the navigation's picker: one
    query, made only when the template asks (a signed-in page)."""
    return {"org_choice": SimpleLazyObject(lambda: _org_choice(request))}


def _org_choice(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"current": None, "memberships": []}
    try:
        actor = actor_for_request(request)
    except DomainError:  # in no organization, or an X-Org they are not a member of
        return {"current": None, "memberships": []}
    memberships = actor.memberships or tuple(memberships_for_user(user=user))
    return {"current": actor.org, "memberships": memberships}
