"""Provider slugs that organizations may not register: the clouds' own.

A price sync attaches a cloud's offers to the provider holding the cloud's slug, so an
organization holding `lambda` would be sent Lambda's buyers and launch requests. The syncs
write for system providers only (`brokers.services.normalise`); registration refuses these
slugs so that a cloud's name never points at an organization in the first place.

Reserved: every slug a pricing source writes offers for (each installed app's
`provider_slugs_in_use()`: brokers depends on marketplace, not the other way), and the
known clouds below, which a catalog may start listing any day. Compared by `slug_key`, so
that `Lambda` or `run_pod` are refused like `lambda` and `runpod`.
"""

from __future__ import annotations

from django.apps import apps
from django.db.models import QuerySet

from marketplace.models.providers import SYSTEM_PROVIDER_KINDS

# Clouds and GPU marketplaces whose names only they may use: the one list of them.
KNOWN_CLOUD_SLUGS = frozenset({
    "aws", "gcp", "google", "azure", "oci", "oracle", "ibm", "alibaba", "tencent",
    "lambda", "lambdalabs", "runpod", "vast", "vastai", "coreweave", "paperspace",
    "fluidstack", "hyperbolic", "cudo", "lium", "mithril", "nebius", "digitalocean",
    "tensordock", "jarvislabs", "scaleway", "ovh", "hetzner", "linode", "vultr",
    "datacrunch", "verda", "crusoe", "together", "voltagepark", "sfcompute", "hyperstack",
    "genesiscloud", "latitude", "shadeform", "primeintellect", "seeweb", "spheron",
    "daytona", "yotta", "kubernetes", "skypilot", "gpuhunt", "gpumarket",
})  # fmt: skip


def slug_key(slug: str) -> str:
    """What two slugs share when they name the same thing to a reader: `Run_Pod` = `runpod`."""
    return slug.lower().replace("-", "").replace("_", "")


def reserved_provider_slugs() -> frozenset[str]:
    """The slugs only system providers may hold (not normalised: see `slug_key`)."""
    slugs = set(KNOWN_CLOUD_SLUGS)
    for app_config in apps.get_app_configs():
        in_use = getattr(app_config, "provider_slugs_in_use", None)
        if in_use is not None:
            slugs.update(in_use())
    return frozenset(slugs)


def is_reserved_slug(slug: str) -> bool:
    return slug_key(slug) in {slug_key(reserved) for reserved in reserved_provider_slugs()}


def reserved_slug_holders(providers: QuerySet) -> list:
    """The organizations' providers (of `providers`: the model's manager, or a migration's
    historical one) that hold a reserved slug, registered before it was reserved. The syncs
    skip their slugs; what to rename is an operator's decision, never made here."""
    keys = {slug_key(slug) for slug in reserved_provider_slugs()}
    not_system = providers.exclude(org__isnull=True, kind__in=SYSTEM_PROVIDER_KINDS)
    return [p for p in not_system.order_by("pk") if slug_key(p.slug) in keys]
