"""State reports from providers that list their own machines: running, failed, preempted,
terminated. Each is applied once (by provider and event id) and only where the state
machine allows it; anything else changes nothing and answers 409."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from common.errors import DomainError
from common.time import iso_z
from marketplace.handoff import LAUNCH_RESERVATION, enqueue_on_commit
from marketplace.models import (
    LaunchOutcome,
    LaunchRequestKind,
    ProviderEvent,
    ProviderEventType,
    Reservation,
    ReservationStatus,
)
from marketplace.services.launch_requests import launch_requests_close
from marketplace.services.launches import launch_attempt_close
from marketplace.services.placement import reservation_fail_over
from marketplace.services.reservations import (
    IllegalTransition,
    reservation_egress_report,
    reservation_mark_failed,
    reservation_mark_preempted,
    reservation_mark_running,
    reservation_mark_terminated,
    whole_seconds,
)

S = ReservationStatus
E = ProviderEventType
ALL_KINDS = LaunchRequestKind.values
# Where each event may come from; a subset of the state machine's legal moves. `running`
# before `launching` or after the buyer asked to stop, `terminated` for an instance that
# never ran: out of order, refused.
EVENT_SOURCES: dict[str, frozenset[str]] = {
    E.RUNNING: frozenset({S.LAUNCHING}),
    E.FAILED: frozenset({S.LAUNCHING, S.RUNNING, S.TERMINATING}),
    E.PREEMPTED: frozenset({S.RUNNING}),
    E.TERMINATED: frozenset({S.RUNNING, S.TERMINATING}),
}


@dataclass(frozen=True)
class ProviderEventInput:
    event_id: str
    type: str
    connection: dict = field(default_factory=dict)
    reason: str = ""
    at: datetime | None = None
    egress_gb: Decimal | None = None  # the reservation's running total, as the provider says


def provider_event_apply(
    *, reservation: Reservation, event: ProviderEventInput
) -> tuple[dict, bool]:
    """Apply an event to a reservation of the provider's own offers: (result, duplicate).
    A repeated event id returns the first result and changes nothing."""
    provider_id = reservation.offer.provider_id
    try:
        return _apply_once(reservation.pk, provider_id, event)
    except IllegalTransition:  # a move EVENT_SOURCES allows but the state machine does not
        status = Reservation.objects.get(pk=reservation.pk).status
        raise _invalid_transition(event, status) from None
    except IntegrityError:
        # The same event id, sent concurrently for another reservation, was stored first.
        existing = ProviderEvent.objects.filter(
            provider_id=provider_id, event_id=event.event_id
        ).first()
        if existing is None:
            raise
        return _replay(existing, reservation.pk, event), True


def _invalid_transition(event: ProviderEventInput, status: str) -> DomainError:
    return DomainError(
        "invalid_transition",
        f"A {status} reservation cannot become {event.type}.",
        status=status,
    )


@transaction.atomic
def _apply_once(reservation_id: int, provider_id: int, event: ProviderEventInput):
    # The row lock orders concurrent events for one reservation: a duplicate waits for the
    # first, then finds it stored.
    reservation = Reservation.objects.select_for_update().get(pk=reservation_id)
    existing = ProviderEvent.objects.filter(
        provider_id=provider_id, event_id=event.event_id
    ).first()
    if existing is not None:
        return _replay(existing, reservation_id, event), True
    if reservation.status not in EVENT_SOURCES[event.type]:
        raise _invalid_transition(event, reservation.status)
    at = _event_time(reservation, event)
    reservation = _APPLY[event.type](reservation, event, at)
    if event.egress_gb is not None:
        reservation_egress_report(reservation_id=reservation.pk, total_gb=event.egress_gb, at=at)
    result = _result(reservation, event, at)
    ProviderEvent.objects.create(
        provider_id=provider_id,
        reservation=reservation,
        event_id=event.event_id,
        type=event.type,
        occurred_at=at,
        data={"connection": event.connection, "reason": event.reason}
        | ({} if event.egress_gb is None else {"egress_gb": str(event.egress_gb)}),
        result=result,
    )
    return result, False


def _replay(existing: ProviderEvent, reservation_id: int, event: ProviderEventInput) -> dict:
    if existing.reservation_id != reservation_id or existing.type != event.type:
        raise DomainError(
            "event_id_conflict",
            f"Event id {event.event_id!r} was already used for a {existing.type} event of "
            f"reservation {existing.reservation_id}.",
        )
    return existing.result


def _launch_started_at(reservation: Reservation) -> datetime:
    started = reservation.events.filter(to_status=S.LAUNCHING).aggregate(at=Max("at"))["at"]
    return started or reservation.created_at


def _event_time(reservation: Reservation, event: ProviderEventInput) -> datetime:
    """The provider's time, kept within what we know: not in the future, not before the
    launch started (running) or the instance ran (the rest). Billing runs on it."""
    now = timezone.now()
    at = min(event.at or now, now)
    floor = reservation.running_since or _launch_started_at(reservation)
    return whole_seconds(max(at, floor))


def _mark_running(reservation: Reservation, event: ProviderEventInput, at: datetime):
    attempt = reservation.attempts.filter(outcome=LaunchOutcome.STARTED).first()
    if attempt is not None:
        launch_attempt_close(attempt=attempt, outcome=LaunchOutcome.SUCCEEDED)
    launch_requests_close(reservation_id=reservation.pk, kinds=[LaunchRequestKind.LAUNCH])
    return reservation_mark_running(
        reservation_id=reservation.pk,
        instance_id=reservation.instance_id or f"listed-{reservation.pk}",
        connection=event.connection,
        at=at,
    )


def _mark_failed(reservation: Reservation, event: ProviderEventInput, at: datetime):
    reason = f"The provider reported a failure: {event.reason or 'no reason given'}."
    launch_requests_close(reservation_id=reservation.pk, kinds=ALL_KINDS)
    if reservation.status != S.LAUNCHING:  # a running instance died: nothing to fail over
        return reservation_mark_failed(reservation_id=reservation.pk, reason=reason, at=at)
    attempt = reservation.attempts.filter(outcome=LaunchOutcome.STARTED).first()
    if attempt is not None:
        launch_attempt_close(
            attempt=attempt,
            outcome=LaunchOutcome.PERMANENT_ERROR,
            error=event.reason,
            scope="provider",  # failover looks at other providers only
        )
    # A launch the provider could not start fails over like any failed launch.
    reservation = reservation_fail_over(reservation_id=reservation.pk, reason=reason)
    if reservation.status == S.PENDING:
        enqueue_on_commit(LAUNCH_RESERVATION, reservation.pk)
    return reservation


def _mark_preempted(reservation: Reservation, event: ProviderEventInput, at: datetime):
    message = f"Preempted by the provider{': ' + event.reason if event.reason else '.'}"
    launch_requests_close(reservation_id=reservation.pk, kinds=ALL_KINDS)
    return reservation_mark_preempted(reservation_id=reservation.pk, at=at, message=message)


def _mark_terminated(reservation: Reservation, event: ProviderEventInput, at: datetime):
    message = f"Terminated by the provider{': ' + event.reason if event.reason else '.'}"
    launch_requests_close(reservation_id=reservation.pk, kinds=ALL_KINDS)
    return reservation_mark_terminated(reservation_id=reservation.pk, at=at, message=message)


_APPLY = {
    E.RUNNING: _mark_running,
    E.FAILED: _mark_failed,
    E.PREEMPTED: _mark_preempted,
    E.TERMINATED: _mark_terminated,
}


def _result(reservation: Reservation, event: ProviderEventInput, at: datetime) -> dict:
    return {
        "event": {"id": event.event_id, "type": event.type, "at": iso_z(at)},
        "reservation": {
            "id": reservation.pk,
            "status": reservation.status,
            "running_since": iso_z(reservation.running_since),
            "ended_at": iso_z(reservation.ended_at),
        },
    }
