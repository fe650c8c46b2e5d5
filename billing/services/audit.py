"""The audit trail of money-affecting actions: who, when, what, through which key or session.

Every service that moves money or changes how it may move (a payment method, a top-up, a
budget, an invoice paid, a refund, a payout) records one row here, in its own transaction,
so the record exists exactly when the action does. `actor` is None for what the platform
does by itself (a worker collecting an invoice, a Stripe event)."""

from __future__ import annotations

import hashlib

from billing.models import AuditRecord


def audit_record(
    *,
    org,
    action: str,
    subject: str,
    actor=None,
    session_key: str | None = None,
    detail: dict | None = None,
) -> AuditRecord:
    """`actor`: an `accounts.actors.Actor` (user, and API key if it used one); `session_key`:
    the request's session key when a signed-in user acted through a page."""
    return AuditRecord.objects.create(
        org=org,
        action=action,
        subject=subject,
        user=actor.user if actor is not None and actor.user.is_authenticated else None,
        api_key=actor.api_key if actor is not None else None,
        session=_session_digest(session_key) if actor is not None else "",
        detail=detail or {},
    )


def session_key_of(request) -> str | None:
    """The session key of a page request (None through an API key)."""
    session = getattr(request, "session", None)
    return getattr(session, "session_key", None)


def _session_digest(session_key: str | None) -> str:
    if not session_key:
        return ""
    return hashlib.sha256(session_key.encode()).hexdigest()[:16]
