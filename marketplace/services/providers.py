"""Provider writes."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Value
from django.db.models.functions import Lower, Replace
from django.utils import timezone

from common.errors import DomainError
from common.net import check_user_url
from marketplace.models import Provider, ProviderKind
from marketplace.provider_slugs import is_reserved_slug, slug_key

# Registry name of the launcher in brokers (named, not imported: brokers depends on us).
LISTED_LAUNCHER = "listed"
# Long enough to deploy a verifier that knows the new secret; the old one is a credential.
MAX_WEBHOOK_SECRET_OVERLAP = timedelta(days=1)
WEBHOOK_URL_MAX_LENGTH = Provider._meta.get_field("webhook_url").max_length


def provider_register(*, org, name: str, slug: str, webhook_url: str = "") -> Provider:
    """An organization lists its own capacity under this provider. The webhook secret signs
    the launch requests we send it (shown in the registration response). Its offers are
    reservable: the `listed` launcher asks the provider to start them.

    A cloud's slug is refused (`marketplace.provider_slugs`), and so is a slug another
    provider holds, also when written otherwise (`Acme_GPUs` for `acme-gpus`)."""
    webhook_url_check(webhook_url)
    if (refusal := provider_slug_refusal(slug)) is not None:
        raise DomainError("slug_taken", refusal, field="slug")
    try:
        with transaction.atomic():
            return Provider.objects.create(
                org=org,
                name=name,
                slug=slug,
                kind=ProviderKind.LISTED,
                launcher=LISTED_LAUNCHER,
                webhook_url=webhook_url,
                webhook_secret=new_webhook_secret(),
            )
    except IntegrityError:  # registered by another request since the check: the same answer
        raise DomainError("slug_taken", _taken(slug), field="slug") from None


def provider_slug_refusal(slug: str) -> str | None:
    """Why an organization may not register this slug, or None."""
    if is_reserved_slug(slug):
        return f"The provider slug {slug!r} is reserved: it names a cloud that we list."
    if _providers_by_slug_key(slug_key(slug)).exists():
        return _taken(slug)
    return None


def _taken(slug: str) -> str:
    return f"The provider slug {slug!r} is taken."


def _providers_by_slug_key(key: str):
    normalised = Lower(Replace(Replace("slug", Value("-"), Value("")), Value("_"), Value("")))
    return Provider.objects.annotate(slug_key=normalised).filter(slug_key=key)


def provider_webhook_url_set(*, provider: Provider, webhook_url: str) -> Provider:
    """Send the provider's launch and terminate requests to another URL (or none: it polls).
    Deliveries not yet made, and their retries, go to the new one."""
    webhook_url_check(webhook_url)
    Provider.objects.filter(pk=provider.pk).update(webhook_url=webhook_url)
    provider.webhook_url = webhook_url
    return provider


@transaction.atomic
def provider_webhook_secret_rotate(*, provider: Provider, overlap: timedelta) -> Provider:
    """A new webhook secret (the caller shows it once). For `overlap` the current one still
    signs deliveries beside it, so that the provider can switch its verifier without losing
    any; with 0 it stops at once. Only the two latest secrets are ever valid: one still in
    an earlier rotation's overlap stops now."""
    if not timedelta(0) <= overlap <= MAX_WEBHOOK_SECRET_OVERLAP:
        raise DomainError(
            "invalid_overlap", "overlap_seconds must be between 0 and 86400 (1 day).",
            field="overlap_seconds",
        )  # fmt: skip
    locked = Provider.objects.select_for_update().get(pk=provider.pk)  # rotations in turn
    locked.previous_webhook_secret = locked.webhook_secret if overlap else ""
    locked.previous_webhook_secret_expires_at = timezone.now() + overlap if overlap else None
    locked.webhook_secret = new_webhook_secret()
    locked.save(
        update_fields=[
            "webhook_secret", "previous_webhook_secret", "previous_webhook_secret_expires_at",
        ]
    )  # fmt: skip
    return locked


def webhook_url_check(url: str) -> None:
    """Refuse at once a webhook URL we would refuse to call (common.net); an empty one means
    the provider polls instead."""
    if not url:
        return
    if len(url) > WEBHOOK_URL_MAX_LENGTH:  # the column's bound: a 500 otherwise
        raise DomainError(
            "invalid_webhook_url",
            f"webhook_url is longer than {WEBHOOK_URL_MAX_LENGTH} characters.",
            field="webhook_url",
        )
    reason = check_user_url(
        url,
        allow_http=settings.WEBHOOK_ALLOW_HTTP,
        allow_private=settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES,
    )
    if reason:
        raise DomainError("invalid_webhook_url", f"webhook_url {reason}.", field="webhook_url")


def new_webhook_secret() -> str:
    return secrets.token_urlsafe(32)
