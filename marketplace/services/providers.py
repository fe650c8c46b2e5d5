"""Provider writes."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Value
from django.db.models.functions import Lower, Replace

from common.errors import DomainError
from common.net import check_user_url
from marketplace.models import Provider, ProviderKind
from marketplace.provider_slugs import is_reserved_slug, slug_key

# Registry name of the launcher in brokers (named, not imported: brokers depends on us).
LISTED_LAUNCHER = "listed"


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
                webhook_secret=secrets.token_urlsafe(32),
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


def webhook_url_check(url: str) -> None:
    """Refuse at once a webhook URL we would refuse to call (common.net); an empty one means
    the provider polls instead."""
    if not url:
        return
    reason = check_user_url(
        url,
        allow_http=settings.WEBHOOK_ALLOW_HTTP,
        allow_private=settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES,
    )
    if reason:
        raise DomainError("invalid_webhook_url", f"webhook_url {reason}.", field="webhook_url")
