"""Writes for accounts: organizations, memberships, API keys."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify

from common.errors import DomainError

from .key_lookup import api_key_with_creator
from .models import ApiKey, Membership, Organization, Role, User, role_covers

API_KEY_PREFIX = "gpm"
# Writing last_used_at on every request would turn each read into a write; once a minute
# is precise enough for "when was this key last used".
LAST_USED_RESOLUTION = timedelta(minutes=1)


def user_create(*, email: str, password: str, name: str = "") -> User:
    return User.objects.create_user(email, password, name=name)


def _unique_org_slug(name: str) -> str:
    base = slugify(name)[:60] or "org"
    slug, n = base, 1
    while Organization.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def organization_create(*, user: User, name: str) -> Organization:
    for _attempt in range(3):  # a concurrent sign-up may take the same slug
        try:
            with transaction.atomic():
                org = Organization.objects.create(name=name, slug=_unique_org_slug(name))
                break
        except IntegrityError:
            continue
    else:
        raise DomainError("conflict", "Could not allocate a unique organization slug; retry.")
    Membership.objects.create(user=user, org=org, role=Role.OWNER)
    return org


def hash_key(secret: str) -> str:
    # Keys are 256-bit random strings, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    secret: str  # shown once, never stored


def api_key_create(
    *,
    org: Organization,
    created_by: User,
    name: str,
    role: str,
    expires_at: datetime | None = None,
    creator_role: str | None = None,
) -> IssuedKey:
    """A new key. `creator_role`, when given (the API passes the caller's), must cover
    `role`: no key above its creator."""
    if creator_role is not None and not role_covers(creator_role, role):
        raise DomainError(
            "permission_denied", f"A {creator_role} cannot issue a key with the role {role}."
        )
    if expires_at is not None and expires_at <= timezone.now():
        raise DomainError("invalid_expiry", "expires_at must be in the future.", field="expires_at")
    prefix = secrets.token_hex(6)
    secret = f"{API_KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    api_key = ApiKey.objects.create(
        org=org,
        created_by=created_by,
        name=name,
        role=role,
        prefix=prefix,
        key_hash=hash_key(secret),
        expires_at=expires_at,
    )
    return IssuedKey(api_key=api_key, secret=secret)


def api_key_authenticate(secret: str) -> ApiKey | None:
    """The key of `secret` if it works now: not revoked nor expired, and its creator still a
    member whose role covers the key's (a key dies with its creator's removal or demotion).
    One query: the creator's current role comes with the key."""
    parts = secret.split("_")
    if len(parts) < 3 or parts[0] != API_KEY_PREFIX:
        return None
    api_key = api_key_with_creator(parts[1])
    if api_key is None or not api_key.is_active:
        return None
    if not secrets.compare_digest(api_key.key_hash, hash_key(secret)):
        return None
    if not role_covers(api_key.creator_role, api_key.role):
        return None
    _touch_last_used(api_key)
    return api_key


def _touch_last_used(api_key: ApiKey) -> None:
    """At most one write a minute per key, however many requests race: the condition is
    in the UPDATE, not in what this process last read."""
    now = timezone.now()
    if api_key.last_used_at is not None and now - api_key.last_used_at < LAST_USED_RESOLUTION:
        return
    ApiKey.objects.filter(pk=api_key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_RESOLUTION)
    ).update(last_used_at=now)
    api_key.last_used_at = now


MAX_ROTATION_OVERLAP = timedelta(days=7)


@transaction.atomic
def api_key_rotate(
    *, api_key: ApiKey, rotated_by: User, rotator_role: str, overlap: timedelta
) -> IssuedKey:
    """A new key with the old one's name, role and expiry; the old one stops working after
    `overlap` (0: at once), so clients can move to the new one without a gap."""
    if not timedelta(0) <= overlap <= MAX_ROTATION_OVERLAP:
        raise DomainError(
            "invalid_overlap", "overlap_seconds must be between 0 and 604800 (7 days).",
            field="overlap_seconds",
        )  # fmt: skip
    old = ApiKey.objects.select_for_update().get(pk=api_key.pk)
    if not old.is_active:
        raise DomainError("key_inactive", "A revoked or expired key cannot be rotated.")
    issued = api_key_create(
        org=old.org, created_by=rotated_by, name=old.name, role=old.role,
        expires_at=old.expires_at, creator_role=rotator_role,
    )  # fmt: skip
    ends = timezone.now() + overlap
    if overlap:
        old.expires_at = min(ends, old.expires_at) if old.expires_at else ends
        old.save(update_fields=["expires_at"])
    else:
        old.revoked_at = ends
        old.save(update_fields=["revoked_at"])
    return issued


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    # Conditional update: revoking twice keeps the first revocation time.
    ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    api_key.refresh_from_db()
    return api_key
