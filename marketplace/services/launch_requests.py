"""Launch and terminate requests for providers that list their own machines.

Created by the `listed` launcher (in a worker), delivered by webhook or polled, and closed
when the provider reports on the reservation, when it is no longer wanted, or when the
provider did not answer in time. Every write is a conditional update: a request is closed
once, and a delivery never reopens a closed request.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from marketplace.models import LaunchRequest, LaunchRequestStatus, Reservation
from marketplace.models.launch_requests import OPEN_LAUNCH_REQUEST_STATUSES

R = LaunchRequestStatus


def launch_request_open(
    *, reservation: Reservation, kind: str, key: str, payload: dict, answer_by: datetime
) -> tuple[LaunchRequest, bool]:
    """The request with this key, or a new one: (request, created)."""
    existing = LaunchRequest.objects.filter(key=key).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            request = LaunchRequest.objects.create(
                reservation=reservation,
                provider_id=reservation.offer.provider_id,
                kind=kind,
                key=key,
                payload=payload,
                answer_by=answer_by,
            )
    except IntegrityError:  # a concurrent run of the same task created it first
        return LaunchRequest.objects.get(key=key), False
    return request, True


def launch_request_record_delivery(*, launch_request_id: int, error: str = "") -> None:
    """Count a webhook attempt; without an error it was delivered (2xx)."""
    LaunchRequest.objects.filter(pk=launch_request_id).update(
        delivery_attempts=F("delivery_attempts") + 1, last_error=error[:2000]
    )
    if not error:
        LaunchRequest.objects.filter(pk=launch_request_id, status=R.PENDING).update(
            status=R.DELIVERED, delivered_at=timezone.now()
        )


def launch_requests_close(
    *, reservation_id: int, kinds: Iterable[str], status: str = R.ACKNOWLEDGED
) -> int:
    """Close the reservation's open requests of these kinds (acknowledged, cancelled or
    expired). Returns how many were still open."""
    return LaunchRequest.objects.filter(
        reservation_id=reservation_id, kind__in=list(kinds), status__in=OPEN_LAUNCH_REQUEST_STATUSES
    ).update(status=status, closed_at=timezone.now())


def launch_request_expire(*, launch_request_id: int) -> bool:
    """Close a request the provider did not answer by `answer_by`. False when it had been
    answered (or closed) meanwhile: only one of the two can win."""
    return bool(
        LaunchRequest.objects.filter(
            pk=launch_request_id,
            status__in=OPEN_LAUNCH_REQUEST_STATUSES,
            answer_by__lte=timezone.now(),
        ).update(status=R.EXPIRED, closed_at=timezone.now())
    )
