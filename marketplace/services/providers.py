"""Provider writes."""

from __future__ import annotations

import secrets

from django.db import transaction

from marketplace.models import Provider, ProviderKind

# Registry name of the launcher in brokers (named, not imported: brokers depends on us).
LISTED_LAUNCHER = "listed"


@transaction.atomic
def provider_register(*, org, name: str, slug: str, webhook_url: str = "") -> Provider:
    """An organization lists its own capacity under this provider. The webhook secret signs
    the launch requests we send it (shown in the registration response). Its offers are
    reservable: the `listed` launcher asks the provider to start them."""
    return Provider.objects.create(
        org=org,
        name=name,
        slug=slug,
        kind=ProviderKind.LISTED,
        launcher=LISTED_LAUNCHER,
        webhook_url=webhook_url,
        webhook_secret=secrets.token_urlsafe(32),
    )
