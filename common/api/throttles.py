"""The API's one throttle, on every view (DEFAULT_THROTTLE_CLASSES): each request counts
against the scopes of its view and method, per API key, else per signed-in user, else per
client address (common.ratelimit; docs/api.md, "Limits").

A view names its scopes in `rate_limit_scopes`, by method: `{"GET": ("search",)}` for the
catalog, `{"POST": ("write", "reserve")}` where a write books capacity. A method it leaves out
is `read` if it only reads (GET, HEAD, OPTIONS), else `write`. A view that must never be
throttled (Stripe's signed webhook) sets `throttle_classes = []`.
"""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import BaseThrottle

from common import ratelimit
from common.net import client_ip


def scopes_for(view, method: str) -> tuple[str, ...]:
    declared = getattr(view, "rate_limit_scopes", {})
    method = "GET" if method == "HEAD" else method
    if method in declared:
        return tuple(declared[method])
    return ("read",) if method in SAFE_METHODS else ("write",)


def request_ident(request) -> str:
    if request.auth is not None:  # an API key (session sign-ins have none)
        return ratelimit.key_ident(request.auth)
    if request.user is not None and request.user.is_authenticated:
        return ratelimit.user_ident(request.user)
    return ratelimit.address_ident(client_ip(request))


class ApiThrottle(BaseThrottle):
    def allow_request(self, request, view) -> bool:
        ident = request_ident(request)
        self._wait = ratelimit.hit(*((scope, ident) for scope in scopes_for(view, request.method)))
        return self._wait is None

    def wait(self) -> int | None:
        return self._wait

    def get_ident(self, request) -> str:
        return client_ip(request)
