"""Launch, poll and terminate reservations through the provider's launcher.

Every function here is safe to run twice: it reloads the reservation, acts only from the
state it expects, and passes the launcher an idempotency key per attempt.
"""

from __future__ import annotations

import contextlib
import logging

from brokers.launchers.base import (
    CapacityError,
    InstanceState,
    InstanceStatus,
    LaunchSpec,
    PermanentLaunchError,
)
from brokers.registry import get_launcher
from marketplace.models import LaunchOutcome, Reservation, ReservationStatus
from marketplace.services.launches import launch_attempt_close, launch_attempt_open
from marketplace.services.reservations import (
    IllegalTransition,
    reservation_mark_failed,
    reservation_mark_running,
    reservation_mark_terminated,
    reservation_start_launch,
    reservation_transition,
)

logger = logging.getLogger(__name__)
S = ReservationStatus


class PollAgain(Exception):
    """The instance is still booting: poll later."""


def _load(reservation_id: int) -> Reservation | None:
    return (
        Reservation.objects.select_related("offer", "offer__provider")
        .filter(pk=reservation_id)
        .first()
    )


def _spec(reservation: Reservation, attempt_number: int) -> LaunchSpec:
    offer = reservation.offer
    return LaunchSpec(
        reservation_id=reservation.pk,
        provider=offer.provider.slug,
        sku=offer.sku,
        region=offer.region,
        zone=offer.zone,
        pricing=offer.pricing,
        units=reservation.units,
        idempotency_key=f"reservation-{reservation.pk}-attempt-{attempt_number}",
        options=offer.provider.config,
    )


def launch_reservation(*, reservation_id: int) -> None:
    reservation = _load(reservation_id)
    if reservation is None:
        return
    if reservation.status == S.PENDING:
        reservation = reservation_start_launch(reservation_id=reservation_id)
    elif reservation.status != S.LAUNCHING:
        return  # already running, ended or being terminated: nothing to do
    attempt = launch_attempt_open(reservation=reservation)
    launcher = get_launcher(reservation.offer.provider.launcher)
    try:
        status = launcher.launch(_spec(reservation, attempt.number))
    except CapacityError as exc:
        launch_attempt_close(
            attempt=attempt, outcome=LaunchOutcome.NO_CAPACITY, error=str(exc), scope=exc.scope
        )
        _fail(reservation_id, f"No capacity: {exc}")
        return
    except PermanentLaunchError as exc:
        launch_attempt_close(
            attempt=attempt, outcome=LaunchOutcome.PERMANENT_ERROR, error=str(exc), scope=exc.scope
        )
        _fail(reservation_id, f"Launch failed: {exc}")
        return
    _record_instance(reservation_id, status)
    _apply_status(reservation_id, status, attempt=attempt)


def launch_gave_up(*, reservation_id: int, error: str) -> None:
    """Transient errors outlasted the retries."""
    reservation = _load(reservation_id)
    if reservation is None or reservation.status != S.LAUNCHING:
        return
    attempt = launch_attempt_open(reservation=reservation)
    launch_attempt_close(attempt=attempt, outcome=LaunchOutcome.TRANSIENT_ERROR, error=error)
    _fail(reservation_id, f"Launch failed after retries: {error}")


def _fail(reservation_id: int, reason: str) -> None:
    try:
        reservation_mark_failed(reservation_id=reservation_id, reason=reason)
    except IllegalTransition:
        logger.info("reservation already left launching", extra={"reservation_id": reservation_id})


def _record_instance(reservation_id: int, status: InstanceStatus) -> None:
    Reservation.objects.filter(pk=reservation_id, instance_id="").update(
        instance_id=status.instance_id
    )


def _apply_status(reservation_id: int, status: InstanceStatus, *, attempt=None) -> None:
    """Act on what the provider says about a launching instance."""
    if status.state == InstanceState.PENDING:
        raise PollAgain(status.instance_id)
    if status.state == InstanceState.RUNNING:
        if attempt is not None:
            launch_attempt_close(attempt=attempt, outcome=LaunchOutcome.SUCCEEDED)
        # IllegalTransition: the buyer asked to terminate meanwhile; the terminate task ends it.
        with contextlib.suppress(IllegalTransition):
            reservation_mark_running(
                reservation_id=reservation_id,
                instance_id=status.instance_id,
                connection=status.connection,
            )
        return
    if attempt is not None:
        launch_attempt_close(
            attempt=attempt, outcome=LaunchOutcome.PERMANENT_ERROR, error=status.detail
        )
    _fail(reservation_id, f"Instance {status.state}: {status.detail}")


def poll_reservation(*, reservation_id: int) -> None:
    reservation = _load(reservation_id)
    if reservation is None or reservation.status != S.LAUNCHING or not reservation.instance_id:
        return
    launcher = get_launcher(reservation.offer.provider.launcher)
    status = launcher.poll(reservation.instance_id, options=reservation.offer.provider.config)
    attempt = reservation.attempts.filter(outcome=LaunchOutcome.STARTED).first()
    _apply_status(reservation_id, status, attempt=attempt)


def terminate_reservation(*, reservation_id: int) -> None:
    reservation = _load(reservation_id)
    if reservation is None or reservation.status != S.TERMINATING:
        return
    if reservation.instance_id:
        launcher = get_launcher(reservation.offer.provider.launcher)
        launcher.terminate(reservation.instance_id, options=reservation.offer.provider.config)
    reservation_mark_terminated(reservation_id=reservation_id)


def end_expired_reservation(*, reservation_id: int) -> None:
    """The reserved time is over: terminate like a buyer would."""
    from marketplace.services.reservations import reservation_request_termination

    reservation = _load(reservation_id)
    if reservation is not None and reservation.status in (S.PENDING, S.LAUNCHING, S.RUNNING):
        reservation_request_termination(reservation=reservation, reason="Reserved time ended.")


__all__ = [
    "PollAgain",
    "end_expired_reservation",
    "launch_gave_up",
    "launch_reservation",
    "poll_reservation",
    "reservation_transition",
    "terminate_reservation",
]
