"""Reservation reads. Every query is scoped to one organization."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from marketplace.models import Reservation


def reservations_for_org(*, org) -> QuerySet[Reservation]:
    return Reservation.objects.filter(org=org).select_related(
        "offer", "offer__provider", "offer__gpu"
    )


def reservation_for_org(*, org, reservation_id) -> Reservation:
    return reservations_for_org(org=org).get(pk=reservation_id)


def reservations_live(*, org, ids) -> QuerySet[Reservation]:
    """What the reservation pages refresh without a reload: one query for a page of them."""
    return (
        Reservation.objects.filter(org=org, pk__in=ids)
        .annotate(attempt_count=Count("attempts"))
        .order_by("-id")
    )


def reservation_live_state(reservation: Reservation, *, may_connect: bool) -> dict:
    """A reservation's live fields for the pages' script (`reservations_live` rows). The
    connection is left out, not blanked, for roles that may not `connect`."""
    state = {
        "id": reservation.pk,
        "status": reservation.status,
        "active": reservation.is_active,
        "attempts": reservation.attempt_count,
        "cost": str(reservation.cost),
        "currency": reservation.currency,
        "failure_reason": reservation.failure_reason,
    }
    if may_connect:
        state["connect"] = reservation.ssh_command
    return state
