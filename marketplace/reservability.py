"""Whether a provider's offers can be reserved here, and why not: the one rule that quotes,
reservations, failover, `elsewhere` and the listings use.

Reservable: active, with a launcher, and the launcher ready. A catalog cloud we hold an API
key for (`LAMBDA_API_KEY`, `RUNPOD_API_KEY`, `VAST_API_KEY`) keeps its launcher's name at all
times; it is reservable while the key is set and stops being so when the key goes. Which
launchers are not ready, and why, is brokers' to say (it owns them; marketplace cannot import
it): its app config's `launchers_unavailable()`.
"""

from __future__ import annotations

from django.apps import apps
from django.db.models import Q

from marketplace.models import Provider


def launchers_unavailable() -> dict[str, str]:
    """Launcher name -> why it cannot launch now (a missing key), from every installed app."""
    unavailable: dict[str, str] = {}
    for app_config in apps.get_app_configs():
        reasons = getattr(app_config, "launchers_unavailable", None)
        if reasons is not None:
            unavailable.update(reasons())
    return unavailable


def reservable_q(prefix: str = "") -> Q:
    """The providers whose offers can be reserved (`prefix`: "provider__" from offers)."""
    unavailable = ["", *launchers_unavailable()]
    return Q(**{f"{prefix}is_active": True}) & ~Q(**{f"{prefix}launcher__in": unavailable})


def reservable_provider_ids() -> frozenset[int]:
    return frozenset(Provider.objects.filter(reservable_q()).values_list("pk", flat=True))


def why_not_reservable(provider: Provider) -> str:
    """Why the provider's offers cannot be reserved here, for people; "" when they can."""
    if not provider.is_active:
        return f"{provider.slug} is switched off here."
    if not provider.launcher:
        return f"{provider.slug} is listed from its public prices; it cannot be launched from here."
    reason = launchers_unavailable().get(provider.launcher)
    if reason:
        return f"{provider.slug} cannot be launched from here now: {reason}."
    return ""
