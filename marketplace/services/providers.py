"""Provider writes."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import transaction

from common.errors import DomainError
from common.net import check_user_url
from marketplace.models import Provider, ProviderKind

# Registry name of the launcher in brokers (named, not imported: brokers depends on us).
LISTED_LAUNCHER = "listed"


@transaction.atomic
def provider_register(*, org, name: str, slug: str, webhook_url: str = "") -> Provider:
    """An organization lists its own capacity under this provider. The webhook secret signs
    the launch requests we send it (shown in the registration response). Its offers are
    reservable: the `listed` launcher asks the provider to start them."""
    webhook_url_check(webhook_url)
    return Provider.objects.create(
        org=org,
        name=name,
        slug=slug,
        kind=ProviderKind.LISTED,
        launcher=LISTED_LAUNCHER,
        webhook_url=webhook_url,
        webhook_secret=secrets.token_urlsafe(32),
    )


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
