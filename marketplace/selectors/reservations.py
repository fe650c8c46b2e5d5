"""Reservation reads. Every query is scoped to one organization."""

from __future__ import annotations

from django.db.models import QuerySet

from marketplace.models import Reservation


def reservations_for_org(*, org) -> QuerySet[Reservation]:
    return Reservation.objects.filter(org=org).select_related(
        "offer", "offer__provider", "offer__gpu"
    )


def reservation_for_org(*, org, reservation_id) -> Reservation:
    return reservations_for_org(org=org).get(pk=reservation_id)
