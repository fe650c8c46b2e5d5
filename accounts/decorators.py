"""Page views guarded by the permission table the API uses (`accounts.actors.PERMISSIONS`)."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required

from .actors import actor_for_request


def member_required(permission: str):
    """A page for signed-in members whose role has `permission` in the organization they act
    for, as the API endpoint doing the same thing requires. A visitor is sent to sign in; a
    member without it gets the 403 page (a DomainError, rendered by common/middleware.py)."""

    def decorate(view):
        @wraps(view)
        def guarded(request, *args, **kwargs):
            actor_for_request(request).require(permission)
            return view(request, *args, **kwargs)

        return login_required(guarded)

    return decorate
