"""What every page's template may show about the signed-in member's organization's money."""

from __future__ import annotations

from functools import cached_property

from accounts.actors import actor_for_request
from billing.selectors_funds import org_funds_notice
from common.errors import DomainError


class FundsNotice:
    """`{{ funds_notice.text }}`: an uncollectible invoice or a budget alert of the
    organization the member acts for, or "". Looked up only when a template asks (one
    query), with the actor the view already resolved."""

    def __init__(self, request):
        self._request = request

    @cached_property
    def text(self) -> str:
        user = getattr(self._request, "user", None)
        if user is None or not user.is_authenticated:
            return ""
        try:
            actor = actor_for_request(self._request)
        except DomainError:  # no organization, or an X-Org they are not a member of
            return ""
        return org_funds_notice(org=actor.org)


def funds_notice(request) -> dict:
    return {"funds_notice": FundsNotice(request)}
