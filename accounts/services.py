"""Writes for accounts: organizations, memberships, API keys."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from common.errors import DomainError

from .models import ApiKey, Membership, Organization, Role, User

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


def api_key_create(*, org: Organization, created_by: User, name: str, role: str) -> IssuedKey:
    prefix = secrets.token_hex(6)
    secret = f"{API_KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    api_key = ApiKey.objects.create(
        org=org,
        created_by=created_by,
        name=name,
        role=role,
        prefix=prefix,
        key_hash=hash_key(secret),
    )
    return IssuedKey(api_key=api_key, secret=secret)


def api_key_authenticate(secret: str) -> ApiKey | None:
    parts = secret.split("_")
    if len(parts) < 3 or parts[0] != API_KEY_PREFIX:
        return None
    api_key = ApiKey.objects.select_related("org", "created_by").filter(prefix=parts[1]).first()
    if api_key is None or not api_key.is_active:
        return None
    if not secrets.compare_digest(api_key.key_hash, hash_key(secret)):
        return None
    _touch_last_used(api_key)
    return api_key


def _touch_last_used(api_key: ApiKey) -> None:
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    # Conditional update: revoking twice keeps the first revocation time.
    ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    api_key.refresh_from_db()
    return api_key
