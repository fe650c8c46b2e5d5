"""Reads for providers that list their own machines. Every query is scoped to the providers
an organization owns: a provider key sees only its own offers, requests and reservations."""

from __future__ import annotations

from django.core.validators import slug_re
from django.db.models import QuerySet
from django.db.models.functions import Left

from accounts.actors import PERMISSIONS, Actor
from common.errors import DomainError
from common.time import iso_z
from marketplace.models import LaunchRequest, Offer, Provider, Reservation
from marketplace.models.launch_requests import OPEN_LAUNCH_REQUEST_STATUSES
from marketplace.selectors.offers import offers_visible, providers_for_org


def providers_acting(*, actor: Actor, slug: str | None = None) -> QuerySet[Provider]:
    """The active providers the actor's organization owns (one, if `slug` names it)."""
    actor.require("provide")
    providers = providers_for_org(org=actor.org).filter(is_active=True)
    if slug:
        # Text that is no slug names no provider, and must not reach the database: PostgreSQL
        # refuses NUL (`?provider=%00`) with an error, not an empty result.
        providers = providers.filter(slug=slug) if slug_re.fullmatch(slug) else providers.none()
        if not providers.exists():
            raise DomainError("not_found", f"Your organization has no provider {slug!r}.")
    return providers


def provider_owned(*, actor: Actor, provider_id: int) -> Provider:
    """One of the providers the actor's organization owns, by id (active or not). Another
    organization's is not found, as one that does not exist: its existence is not told."""
    actor.require("provide")
    provider = providers_for_org(org=actor.org).filter(pk=provider_id).first()
    if provider is None:
        raise DomainError("not_found", f"Provider {provider_id} is not one of yours.")
    return provider


def provider_acting(*, actor: Actor, slug: str | None = None) -> Provider:
    """The one provider a write acts for: the named one, or the organization's only one."""
    providers = list(providers_acting(actor=actor, slug=slug)[:50])
    if len(providers) == 1:
        return providers[0]
    if not providers:
        raise DomainError(
            "no_provider",
            "Your organization has no provider yet: register one with POST /api/v1/providers/.",
        )
    slugs = ", ".join(p.slug for p in providers)
    raise DomainError(
        "provider_required",
        f"Your organization has several providers ({slugs}): name one with `provider`.",
        providers=[p.slug for p in providers],
    )


def provider_offers(*, actor: Actor, slug: str | None = None) -> QuerySet[Offer]:
    return offers_visible().filter(provider__in=providers_acting(actor=actor, slug=slug))


def provider_offer(*, actor: Actor, offer_id: int) -> Offer:
    offer = provider_offers(actor=actor).filter(pk=offer_id).first()
    if offer is None:
        raise DomainError("not_found", f"Offer {offer_id} is not one of yours.")
    return offer


def provider_launch_requests(
    *, actor: Actor, slug: str | None = None, statuses=OPEN_LAUNCH_REQUEST_STATUSES
) -> QuerySet[LaunchRequest]:
    return (
        LaunchRequest.objects.filter(
            provider__in=providers_acting(actor=actor, slug=slug), status__in=list(statuses)
        )
        .select_related("provider")
        .order_by("id")
    )


def provider_reservation(*, actor: Actor, reservation_id: int) -> Reservation:
    reservation = (
        Reservation.objects.select_related("offer", "offer__provider")
        .filter(pk=reservation_id, offer__provider__in=providers_acting(actor=actor))
        .first()
    )
    if reservation is None:
        raise DomainError("not_found", f"Reservation {reservation_id} is not one of yours.")
    return reservation


def providers_of_user(*, user) -> QuerySet[Provider]:
    """The providers owned by the organizations where the user may `provide` (the provider
    pages, which span all of them, as the incoming reservations do)."""
    return Provider.objects.filter(
        org__memberships__user=user, org__memberships__role__in=PERMISSIONS["provide"]
    ).distinct()


def reservations_incoming(*, user) -> QuerySet[Reservation]:
    """Reservations of offers listed by the organizations where the user may `provide`."""
    return (
        Reservation.objects.filter(
            offer__provider__org__memberships__user=user,
            offer__provider__org__memberships__role__in=PERMISSIONS["provide"],
        )
        .select_related("offer", "offer__provider", "offer__gpu")
        .order_by("-id")
    )


# What a page shows of a failed delivery: the reason, never more (a reply is not stored, and
# a long text would be read for every row).
LAUNCH_REQUEST_REASON_CHARS = 160


def launch_requests_incoming(*, user) -> QuerySet[LaunchRequest]:
    """Launch and terminate requests to the providers of the organizations where the user
    may `provide`, newest first, each with a short `reason` (its last delivery error)."""
    return (
        LaunchRequest.objects.filter(provider__in=providers_of_user(user=user))
        .select_related("provider")
        .defer("payload", "last_error")
        .annotate(reason=Left("last_error", LAUNCH_REQUEST_REASON_CHARS))
        .order_by("-id")
    )


def launch_request_document(request: LaunchRequest) -> dict:
    """What a provider receives, by webhook or by polling: the same document both ways."""
    return {
        "id": request.pk,
        "type": request.kind,
        "created_at": iso_z(request.created_at),
        "answer_by": iso_z(request.answer_by),
        **request.payload,
    }
