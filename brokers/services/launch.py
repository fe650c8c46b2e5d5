"""Launch, poll and terminate reservations through the provider's launcher.

Providers that list their own machines (`brokers.launchers.listed`) answer launch and
terminate requests with events; if one does not answer by the request's `answer_by`, we stop
waiting (`launch_request_give_up`):
  - a launch is given up (the reservation fails, or fails over, as any failed launch);
  - a termination of a running instance ends the reservation at the time it was asked for,
    so the buyer never pays for a provider that does not confirm.

Every function here is safe to run twice: it reloads the reservation, acts only from the
state it expects, and passes the launcher an idempotency key per attempt.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import timedelta

from django.utils import timezone

from brokers.launchers import listed
from brokers.launchers.base import (
    CapacityError,
    InstanceState,
    InstanceStatus,
    LaunchSpec,
    PermanentLaunchError,
)
from brokers.registry import get_launcher
from common.money import quantize_rate
from marketplace.models import (
    LaunchOutcome,
    LaunchRequest,
    LaunchRequestKind,
    Reservation,
    ReservationStatus,
)
from marketplace.services.launch_requests import launch_request_expire
from marketplace.services.launches import launch_attempt_close, launch_attempt_open
from marketplace.services.placement import reservation_fail_over, reservation_relaunch
from marketplace.services.reservations import (
    IllegalTransition,
    reservation_egress_report,
    reservation_mark_failed,
    reservation_mark_preempted,
    reservation_mark_running,
    reservation_mark_terminated,
    reservation_request_termination,
    reservation_start_launch,
    reservation_termination_claim_retry,
    reservation_transition,
    termination_retry_cutoff,
    whole_seconds,
)

logger = logging.getLogger(__name__)
# How long a launched instance may stay `pending` before we give up on it (per provider:
# `Provider.config["boot_timeout_seconds"]`).
BOOT_TIMEOUT_SECONDS = 900
S = ReservationStatus


class PollAgain(Exception):
    """The instance is still booting: poll later."""


class NotDueYet(Exception):
    """The expiry check ran before `answer_by` (an early timer): check again later."""

    def __init__(self, seconds: float):
        super().__init__(f"due in {seconds:.0f} s")
        self.seconds = seconds


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
        gpu_count=offer.gpu_count,
        price_per_hour=quantize_rate(reservation.price_per_hour / reservation.units),
    )


def launch_reservation(*, reservation_id: int) -> None:
    """Launch on the reservation's offer; when that fails over, launch on the next offer in
    the same task (the attempt cap of `reservation_fail_over` bounds the loop). A preempted
    reservation with `auto_relaunch` is placed again first."""
    while _launch_on_current_offer(reservation_id):
        pass


def _launch_on_current_offer(reservation_id: int) -> bool:
    """One launch attempt. True when it failed over: the reservation is pending elsewhere."""
    reservation = _load(reservation_id)
    if reservation is not None and reservation.status == S.PREEMPTED:
        reservation_relaunch(reservation_id=reservation_id)
        reservation = _load(reservation_id)
    if reservation is None:
        return False
    if reservation.status == S.PENDING:
        try:
            reservation = reservation_start_launch(reservation_id=reservation_id)
        except IllegalTransition:
            return False  # terminated by the buyer a moment ago
    elif reservation.status != S.LAUNCHING:
        return False  # already running, ended or being terminated: nothing to do
    attempt = launch_attempt_open(reservation=reservation)
    launcher = get_launcher(reservation.offer.provider.launcher)
    try:
        status = launcher.launch(_spec(reservation, attempt.number))
    except CapacityError as exc:
        launch_attempt_close(
            attempt=attempt, outcome=LaunchOutcome.NO_CAPACITY, error=str(exc), scope=exc.scope
        )
        return _fail_over(reservation_id, f"No capacity: {exc}.")
    except PermanentLaunchError as exc:
        # Bad credentials, an unknown instance type: the error's scope (the provider, unless
        # the launcher says less) rules out that provider, so failover only looks elsewhere.
        launch_attempt_close(
            attempt=attempt, outcome=LaunchOutcome.PERMANENT_ERROR, error=str(exc), scope=exc.scope
        )
        return _fail_over(reservation_id, f"Launch failed: {exc}.")
    _record_instance(reservation_id, status)
    if status.state == InstanceState.PENDING and launcher.reports_by_events:
        return False  # the provider reports `running` or `failed` through events
    _apply_status(reservation_id, status, attempt=attempt)
    return False


def _fail_over(reservation_id: int, reason: str) -> bool:
    return reservation_fail_over(reservation_id=reservation_id, reason=reason).status == S.PENDING


def launch_gave_up(*, reservation_id: int, error: str) -> None:
    """Transient errors outlasted the retries. No failover here: after a timeout the provider
    may have started the instance, and launching elsewhere could leave it running unseen."""
    reservation = _load(reservation_id)
    if reservation is None or reservation.status != S.LAUNCHING:
        return
    attempt = launch_attempt_open(reservation=reservation)
    launch_attempt_close(attempt=attempt, outcome=LaunchOutcome.TRANSIENT_ERROR, error=error)
    _fail(reservation_id, f"Launch failed after retries: {error}")


def launch_request_give_up(*, launch_request_id: int) -> None:
    """The provider did not answer in time: stop waiting (see the module docstring)."""
    request = (
        LaunchRequest.objects.select_related("reservation", "provider")
        .filter(pk=launch_request_id)
        .first()
    )
    if request is None or not request.is_open:
        return
    remaining = (request.answer_by - timezone.now()).total_seconds()
    if remaining > 0:
        raise NotDueYet(remaining)
    if not launch_request_expire(launch_request_id=request.pk):
        return  # answered meanwhile
    reservation = request.reservation
    if request.kind == LaunchRequestKind.LAUNCH:
        _give_up_listed_launch(request)
    elif reservation.status == S.TERMINATING:
        reservation_mark_terminated(
            reservation_id=reservation.pk,
            at=request.created_at,
            message=f"{request.provider.slug} did not confirm the termination; billed until it was asked for.",
        )


def _give_up_listed_launch(request: LaunchRequest) -> None:
    seconds = int((request.answer_by - request.created_at).total_seconds())
    launch_gave_up(
        reservation_id=request.reservation_id,
        error=f"{request.provider.slug} did not confirm the launch within {seconds} s",
    )
    if Reservation.objects.filter(pk=request.reservation_id, status=S.FAILED).exists():
        # It may have started something after all: tell it to stop.
        listed.request_terminate(listed.instance_id_for(request.reservation_id))


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
    config = reservation.offer.provider.config
    status = launcher.poll(reservation.instance_id, options=config)
    attempt = reservation.attempts.filter(outcome=LaunchOutcome.STARTED).first()
    if status.state == InstanceState.PENDING and _boot_timed_out(attempt, config):
        _give_up_booting(reservation, launcher, attempt)
        return
    _apply_status(reservation_id, status, attempt=attempt)


def _boot_timed_out(attempt, config: dict) -> bool:
    limit = timedelta(seconds=int(config.get("boot_timeout_seconds", BOOT_TIMEOUT_SECONDS)))
    return attempt is not None and timezone.now() - attempt.started_at > limit


def _give_up_booting(reservation: Reservation, launcher, attempt) -> None:
    """An instance that never comes up is stopped (so it cannot run, and cost, unseen), and
    the reservation fails with the attempt recorded; polling ends here."""
    launcher.terminate(reservation.instance_id, options=reservation.offer.provider.config)
    error = "The instance did not finish booting in time; it was terminated."
    launch_attempt_close(attempt=attempt, outcome=LaunchOutcome.TRANSIENT_ERROR, error=error)
    _fail(reservation.pk, error)


def check_running_reservation(*, reservation_id: int) -> None:
    """Ask the provider about a running instance: it may have been preempted, or ended on
    its own. Usage stops at the time the provider gives, not when we noticed."""
    reservation = _load(reservation_id)
    if reservation is None or reservation.status != S.RUNNING or not reservation.instance_id:
        return
    launcher = get_launcher(reservation.offer.provider.launcher)
    if launcher.reports_by_events:
        return  # the provider tells us through the events API
    status = launcher.poll(reservation.instance_id, options=reservation.offer.provider.config)
    if status.state in (InstanceState.PENDING, InstanceState.RUNNING):
        return
    ended_at = _ended_at(reservation, status)
    _record_egress(reservation, status, ended_at)
    detail = f": {status.detail}" if status.detail else "."
    with contextlib.suppress(IllegalTransition):  # terminated by the buyer meanwhile
        if status.state == InstanceState.PREEMPTED:
            reservation_mark_preempted(
                reservation_id=reservation_id, at=ended_at, message=f"Preempted{detail}"
            )
        elif status.state == InstanceState.TERMINATED:
            reservation_mark_terminated(
                reservation_id=reservation_id, at=ended_at, message=f"Ended by the provider{detail}"
            )
        else:
            reservation_mark_failed(
                reservation_id=reservation_id, reason=f"Instance failed{detail}", at=ended_at
            )


def _ended_at(reservation: Reservation, status: InstanceStatus):
    """The provider's end time, kept within [running_since, now]."""
    now = whole_seconds(timezone.now())
    ended_at = whole_seconds(status.ended_at) if status.ended_at else now
    return min(max(ended_at, reservation.running_since or ended_at), now)


def terminate_reservation(*, reservation_id: int) -> None:
    reservation = _load(reservation_id)
    if reservation is None or reservation.status != S.TERMINATING:
        return
    if reservation.instance_id:
        launcher = get_launcher(reservation.offer.provider.launcher)
        status = launcher.terminate(
            reservation.instance_id, options=reservation.offer.provider.config
        )
        if launcher.reports_by_events and status.state != InstanceState.TERMINATED:
            return  # the provider confirms with a `terminated` event
        _record_egress(reservation, status, _ended_at(reservation, status))
    reservation_mark_terminated(reservation_id=reservation_id)


def _record_egress(reservation: Reservation, status: InstanceStatus, at) -> None:
    """Egress as the provider reports it (never the quote's estimate), when it does."""
    if status.egress_gb is not None:
        reservation_egress_report(reservation_id=reservation.pk, total_gb=status.egress_gb, at=at)


def stuck_terminations_retry() -> int:
    """Queue the terminate task again for each reservation terminating for longer than the
    grace (its task lost at commit, or out of retries). Returns how many this call claimed:
    a reservation another sweep claimed a moment ago is left to that one."""
    cutoff = termination_retry_cutoff()
    ids = Reservation.objects.filter(
        status=S.TERMINATING, termination_asked_at__lte=cutoff
    ).values_list("pk", flat=True)
    return sum(
        reservation_termination_claim_retry(reservation_id=reservation_id, stuck_since=cutoff)
        for reservation_id in ids
    )


def end_expired_reservation(*, reservation_id: int) -> None:
    """The reserved time is over: terminate like a buyer would."""
    reservation = _load(reservation_id)
    if reservation is not None and reservation.status in (S.PENDING, S.LAUNCHING, S.RUNNING):
        reservation_request_termination(reservation=reservation, reason="Reserved time ended.")


__all__ = [
    "NotDueYet",
    "PollAgain",
    "check_running_reservation",
    "end_expired_reservation",
    "launch_gave_up",
    "launch_request_give_up",
    "launch_reservation",
    "poll_reservation",
    "reservation_transition",
    "stuck_terminations_retry",
    "terminate_reservation",
]
