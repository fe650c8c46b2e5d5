"""Celery tasks of brokers: thin wrappers that load by id and call one service."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from brokers.launchers.base import TransientLaunchError
from brokers.services import launch
from brokers.services.sync import refresh_source
from marketplace.models import Reservation, ReservationStatus

POLL_INTERVAL_SECONDS = 2
MAX_LAUNCH_RETRIES = 5


@shared_task(name="brokers.refresh_prices", acks_late=True)
def refresh_prices(source_name: str, path: str | None = None) -> int:
    return refresh_source(source_name=source_name, path=path).pk


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
