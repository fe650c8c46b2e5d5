"""Rate limits on pages (common.ratelimit counts; docs/api.md, "Limits", lists them).

Every form sent to a page (POST or another writing method) counts against `write`, per
signed-in user, else per client address (`RateLimitMiddleware`). A view names other scopes
with `@rate_limited(GET=("search",))`, `@rate_limited(POST=("write", "reserve"))`. The forms
that take a password or make an account (`@guard_auth_form`) count against `auth` per
address, and their refusals per e-mail. Over a limit a page answers 429 with Retry-After.
The API's paths are left to its throttle (common.api.throttles), which knows API keys.
"""

from __future__ import annotations

import functools

from django.shortcuts import render

from common import ratelimit
from common.api.errors import throttled_body
from common.net import client_ip

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
# Counted per address even when someone is signed in: what guards passwords is per address.
ADDRESS_SCOPES = frozenset({"auth"})


def rate_limited(**scopes_by_method: tuple[str, ...]):
    """Mark a view with the scopes each method counts against (instead of the default:
    `write` for a writing method, none for a read)."""

    def mark(view):
        view.rate_limit_scopes = {m.upper(): tuple(s) for m, s in scopes_by_method.items()}
        return view

    return mark


def guard_auth_form(email_field: str):
    """For sign-in, sign-up and the admin's sign-in. Each form sent counts against `auth` per
    address; each refused one (the form shown again: 200) against `auth_failures` per e-mail
    and address and `auth_failures_account` per e-mail, whatever the address. While one of
    those is spent the form answers 429 without looking at the password. A sign-in that
    succeeds clears its e-mail's failures from that address."""

    def decorate(view):
        @functools.wraps(view)
        def guarded(request, *args, **kwargs):
            email = request.POST.get(email_field, "").strip() if request.method == "POST" else ""
            if not email:
                return view(request, *args, **kwargs)
            limits = _failure_limits(request, email)
            wait = ratelimit.peek(*limits)
            if wait is not None:
                return throttled_page(request, wait)
            response = view(request, *args, **kwargs)
            if response.status_code == 200:
                ratelimit.record(*limits)
            elif 300 <= response.status_code < 400:
                ratelimit.clear(limits[0])
            return response

        return rate_limited(POST=("auth",))(guarded)

    return decorate


def _failure_limits(request, email: str) -> list[ratelimit.Limit]:
    address = ratelimit.address_ident(client_ip(request))
    account = ratelimit.email_ident(email)
    return [("auth_failures", f"{account} {address}"), ("auth_failures_account", account)]


def throttled_page(request, wait: int):
    body = throttled_body(wait)["error"]
    context = {"title": "Too many requests", "code": body["code"], "message": body["message"]}
    response = render(request, "error.html", context, status=429)
    response["Retry-After"] = str(body["retry_after"])
    return response


def _ident(request, scope: str) -> str:
    user = getattr(request, "user", None)
    if scope not in ADDRESS_SCOPES and user is not None and user.is_authenticated:
        return ratelimit.user_ident(user)
    return ratelimit.address_ident(client_ip(request))


class RateLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path.startswith("/api/"):
            return None
        method = "GET" if request.method == "HEAD" else request.method
        declared = getattr(view_func, "rate_limit_scopes", {})
        default = ("write",) if method in WRITE_METHODS else ()
        scopes = declared.get(method, default)
        if not scopes:
            return None
        wait = ratelimit.hit(*((scope, _ident(request, scope)) for scope in scopes))
        return None if wait is None else throttled_page(request, wait)
