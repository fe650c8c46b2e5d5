"""Celery tasks of brokers: thin wrappers that load by id and call one service."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from brokers.http import PermanentHttpError, TransientHttpError
from brokers.launchers import listed
from brokers.launchers.base import TransientLaunchError
from brokers.services import launch
from brokers.services.sync import offers_upkeep, refresh_source
from marketplace.models import Reservation, ReservationStatus
from marketplace.services.price_index_rollup import refresh_price_index_rows

POLL_INTERVAL_SECONDS = 2
MAX_LAUNCH_RETRIES = 5


@shared_task(name="brokers.refresh_prices", acks_late=True)
def refresh_prices(source_name: str, path: str | None = None, full: bool = False) -> int:
    """`full` reads every input, also those unchanged since the last sync."""
    return refresh_source(source_name=source_name, path=path, full=full).pk


@shared_task(name="brokers.offers_upkeep")
def offers_upkeep_task() -> dict[str, int]:
    """Beat: stale offers of every source (also of one that stopped running), and the price
    check over every GPU class."""
    return offers_upkeep()


@shared_task(name="brokers.refresh_price_index")
def refresh_price_index() -> int:
    """Beat: the price index's rows of the last 90 days that are not final yet (today's,
    and every day on a first run), for every GPU model and filter. Upserts: safe to run
    twice or after a crash."""
    return refresh_price_index_rows()


# acks_late + reject_on_worker_lost: a worker killed mid-launch gets the message back, and the
# service resumes the open attempt with the same idempotency key instead of launching twice.
@shared_task(
    name="brokers.launch_reservation",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=MAX_LAUNCH_RETRIES,
)
def launch_reservation(self, reservation_id: int) -> None:
    try:
        launch.launch_reservation(reservation_id=reservation_id)
    except launch.PollAgain:
        poll_reservation.apply_async(args=[reservation_id], countdown=POLL_INTERVAL_SECONDS)
    except TransientLaunchError as exc:
        if self.request.retries >= self.max_retries:
            launch.launch_gave_up(reservation_id=reservation_id, error=str(exc))
            return
        raise self.retry(exc=exc, countdown=min(2**self.request.retries, 60)) from exc


@shared_task(name="brokers.poll_reservation", bind=True, acks_late=True, max_retries=None)
def poll_reservation(self, reservation_id: int) -> None:
    try:
        launch.poll_reservation(reservation_id=reservation_id)
    except (launch.PollAgain, TransientLaunchError) as exc:
        raise self.retry(exc=exc, countdown=POLL_INTERVAL_SECONDS) from exc


@shared_task(
    name="brokers.terminate_reservation",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(TransientLaunchError,),
    retry_backoff=True,
    retry_backoff_max=120,
    max_retries=10,
)
def terminate_reservation(self, reservation_id: int) -> None:
    launch.terminate_reservation(reservation_id=reservation_id)


@shared_task(name="brokers.retry_stuck_terminations")
def retry_stuck_terminations() -> int:
    """Beat: terminations still unfinished a grace after their task was queued are queued
    again; each reservation is claimed once per grace, so overlapping sweeps queue it once."""
    return launch.stuck_terminations_retry()


@shared_task(name="brokers.check_running_reservations")
def check_running_reservations() -> int:
    """Beat: ask each provider about its running instances (preempted? ended?), one task
    per reservation so that one slow or failing provider does not hold up the others."""
    ids = list(
        Reservation.objects.filter(status=ReservationStatus.RUNNING)
        .exclude(instance_id="")
        .values_list("pk", flat=True)
    )
    for reservation_id in ids:
        check_running_reservation.delay(reservation_id)
    return len(ids)


@shared_task(name="brokers.check_running_reservation", acks_late=True)
def check_running_reservation(reservation_id: int) -> None:
    try:
        launch.check_running_reservation(reservation_id=reservation_id)
    except TransientLaunchError:
        return  # the next beat asks again


@shared_task(name="brokers.end_expired_reservations")
def end_expired_reservations() -> int:
    """Beat: reservations past their reserved time are terminated."""
    ids = list(
        Reservation.objects.filter(
            reserved_until__lte=timezone.now(),
            status__in=[
                ReservationStatus.PENDING,
                ReservationStatus.LAUNCHING,
                ReservationStatus.RUNNING,
            ],
        ).values_list("pk", flat=True)
    )
    for reservation_id in ids:
        launch.end_expired_reservation(reservation_id=reservation_id)
    return len(ids)


# --- providers that list their own machines: webhook delivery and answer deadlines ---------

WEBHOOK_MAX_RETRIES = 8
WEBHOOK_BACKOFF_SECONDS = 5
WEBHOOK_BACKOFF_MAX_SECONDS = 1800


@shared_task(
    name=listed.DELIVER_LAUNCH_REQUEST,
    bind=True,
    acks_late=True,
    max_retries=WEBHOOK_MAX_RETRIES,
)
def deliver_launch_request(self, launch_request_id: int) -> None:
    """Transient failures (timeouts, 429, 5xx) retry with exponential backoff: 5 s, 10 s,
    20 s... capped at 30 min. 4xx answers are not retried. Either way the request stays
    open for polling until it is answered or expires."""
    try:
        listed.deliver(launch_request_id=launch_request_id)
    except PermanentHttpError:
        return
    except TransientHttpError as exc:
        if self.request.retries >= self.max_retries:
            listed.delivery_gave_up(launch_request_id=launch_request_id, error=str(exc))
            return
        countdown = min(
            WEBHOOK_BACKOFF_SECONDS * 2**self.request.retries, WEBHOOK_BACKOFF_MAX_SECONDS
        )
        raise self.retry(exc=exc, countdown=countdown) from exc


@shared_task(name=listed.EXPIRE_LAUNCH_REQUEST, bind=True, acks_late=True, max_retries=None)
def expire_launch_request(self, launch_request_id: int) -> None:
    try:
        launch.launch_request_give_up(launch_request_id=launch_request_id)
    except launch.NotDueYet as early:
        raise self.retry(countdown=early.seconds + 1) from early
