"""Provider writes."""

from __future__ import annotations

import secrets

from django.db import transaction

from marketplace.models import Provider, ProviderKind


@transaction.atomic
def provider_register(*, org, name: str, slug: str, webhook_url: str = "") -> Provider:
    """An organization lists its own capacity under this provider. The webhook secret signs
    the launch requests we send it (shown in the registration response)."""
    return Provider.objects.create(
        org=org,
        name=name,
        slug=slug,
        kind=ProviderKind.LISTED,
        webhook_url=webhook_url,
        webhook_secret=secrets.token_urlsafe(32),
    )
