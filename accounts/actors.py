"""Who is acting, for which organization, with which role.

`PERMISSIONS` is the one table of what each role may do, for the API and the pages alike
(pages: `accounts.decorators.member_required`; templates: `member_can`). An API key carries
its organization and role. A signed-in user acts for the organization
named by the `X-Org` header (id or slug), else the one they chose in the pages' switcher
(kept in the session) while they are still its member, else their first one, with the role
of their membership there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.core.validators import slug_re

from common.errors import DomainError

from .models import ApiKey, Membership, Organization, Role, User
from .selectors import memberships_for_user

CHOSEN_ORG_SESSION_KEY = "org_id"

_ALL = frozenset(Role.values)
ORG_ID = re.compile(r"[0-9]{1,18}")  # a bigint; longer digit strings are read as slugs
PERMISSIONS: dict[str, frozenset[str]] = {
    "reserve": frozenset({Role.OWNER, Role.ADMIN, Role.BUYER}),
    "read_reservations": frozenset({Role.OWNER, Role.ADMIN, Role.BUYER, Role.FINANCE}),
    # How to reach a running instance (ssh host, user, port) is for those who run workloads:
    # finance reads reservations to check the bill, not to log in to them.
    "connect": frozenset({Role.OWNER, Role.ADMIN, Role.BUYER}),
    "billing": frozenset({Role.OWNER, Role.ADMIN, Role.FINANCE}),
    "manage_org": frozenset({Role.OWNER, Role.ADMIN}),
    "provide": frozenset({Role.OWNER, Role.ADMIN, Role.PROVIDER}),
    "read": _ALL,
}


@dataclass(frozen=True)
class Actor:
    user: User
    org: Organization
    role: str
    api_key: ApiKey | None = None
    # A signed-in user's memberships, read with the one that was picked (none when an
    # X-Org header named it, or for an API key): the pages' organization picker shows them.
    memberships: tuple[Membership, ...] = ()

    def can(self, permission: str) -> bool:
        return self.role in PERMISSIONS[permission]

    def require(self, permission: str) -> None:
        if not self.can(permission):
            raise DomainError(
                "permission_denied",
                f"The role '{self.role}' may not do this ({permission}).",
            )


def _membership(user: User, org_hint: str | int | None) -> Membership | None:
    memberships = Membership.objects.select_related("org").filter(user=user)
    text = str(org_hint)
    # ASCII digits only: str.isdigit() also takes "²", which int() refuses. Text that is no
    # slug names no organization, and must not reach the database (PostgreSQL refuses NUL).
    if ORG_ID.fullmatch(text):
        return memberships.filter(org_id=int(text)).first()
    if not slug_re.fullmatch(text):
        return None
    return memberships.filter(org__slug=text).first()


def actor_for_request(request, *, org_hint: str | int | None = None) -> Actor:
    """The actor of an authenticated request. `org_hint` comes from a body's `org` field."""
    auth = getattr(request, "auth", None)  # DRF requests have it; plain page requests do not
    api_key = auth if isinstance(auth, ApiKey) else None
    if api_key is not None:
        if org_hint not in (None, "") and str(org_hint) not in (
            str(api_key.org_id),
            api_key.org.slug,
        ):
            raise DomainError(
                "permission_denied",
                "This API key belongs to another organization.",
            )
        return Actor(user=request.user, org=api_key.org, role=api_key.role, api_key=api_key)
    hint = org_hint if org_hint not in (None, "") else request.headers.get("X-Org")
    chosen = _chosen_org_id(request)
    # Remembered on the request: a page's view and its navigation (`member_can`) ask the same
    # question, and the answer costs a query.
    remembered = request.__dict__.setdefault("_actors", {})
    key = (request.user.pk, str(hint), chosen)
    if key not in remembered:
        remembered[key] = _session_actor(request.user, hint, chosen)
    return remembered[key]


def choose_org(request, org_id: int) -> None:
    """The organization the signed-in user acts for from now on, in this session."""
    request.session[CHOSEN_ORG_SESSION_KEY] = org_id
    request.__dict__.pop("_actors", None)


def _chosen_org_id(request) -> int | None:
    session = getattr(request, "session", None)
    chosen = session.get(CHOSEN_ORG_SESSION_KEY) if session is not None else None
    return chosen if isinstance(chosen, int) else None


def _session_actor(user: User, hint, chosen: int | None) -> Actor:
    if hint not in (None, ""):
        membership = _membership(user, hint)
        if membership is None:
            raise DomainError("permission_denied", "You are not a member of that organization.")
        return Actor(user=user, org=membership.org, role=membership.role)
    # One query for all of them (people belong to a few): the picked one, or the first when
    # none was picked or they have left the one they picked.
    memberships = tuple(memberships_for_user(user=user))
    if not memberships:
        raise DomainError("no_organization", "Create or join an organization first.")
    picked = next((m for m in memberships if m.org_id == chosen), memberships[0])
    return Actor(user=user, org=picked.org, role=picked.role, memberships=memberships)
