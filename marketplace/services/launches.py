"""Launch attempts: one row per try at starting a reservation on an offer."""

from __future__ import annotations

from django.db.models import Max
from django.utils import timezone

from marketplace.models import LaunchAttempt, LaunchOutcome, Reservation


def launch_attempt_open(*, reservation: Reservation) -> LaunchAttempt:
    """The attempt in progress, or a new one. A redelivered task (acks_late) finds the
    attempt it started before the worker died and resumes it instead of starting another."""
    current = reservation.attempts.filter(
        outcome=LaunchOutcome.STARTED, offer_id=reservation.offer_id
    ).first()
    if current is not None:
        return current
    number = (reservation.attempts.aggregate(n=Max("number"))["n"] or 0) + 1
    return LaunchAttempt.objects.create(
        reservation=reservation,
        offer_id=reservation.offer_id,
        number=number,
        started_at=timezone.now(),
    )


def launch_attempt_close(
    *, attempt: LaunchAttempt, outcome: str, error: str = "", scope: str = ""
) -> None:
    LaunchAttempt.objects.filter(pk=attempt.pk, outcome=LaunchOutcome.STARTED).update(
        outcome=outcome, error=error[:2000], scope=scope, finished_at=timezone.now()
    )
