"""Offer reads."""

from __future__ import annotations

from django.db.models import QuerySet

from marketplace.models import GpuModel, Offer, OfferStatus, Provider

LISTED_BY_DEFAULT = (OfferStatus.ACTIVE, OfferStatus.STALE)


def offers_visible() -> QuerySet[Offer]:
    return Offer.objects.select_related("provider", "gpu")


def offers_default_listing() -> QuerySet[Offer]:
    """Active and stale offers (suspect ones included, flagged); withdrawn only on request."""
    return offers_visible().filter(status__in=LISTED_BY_DEFAULT)


def gpu_models() -> QuerySet[GpuModel]:
    return GpuModel.objects.all()


def providers_for_org(*, org) -> QuerySet[Provider]:
    return Provider.objects.filter(org=org)
