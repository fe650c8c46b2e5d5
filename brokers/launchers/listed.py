"""Offers that providers list themselves: we cannot start their machines, we ask.

A request is a row (`LaunchRequest`) the provider polls for, and, when the provider has a
`webhook_url`, a signed POST retried with backoff (`deliver`, run by a task). `launch` files
a launch request and answers PENDING; the provider reports `running`, `failed`, `preempted`
or `terminated` through the events API (`marketplace.services.provider_events`), so nothing
polls it (`reports_by_events`). What happens when it does not answer by `answer_by` is
orchestration: `brokers.services.launch.launch_request_give_up`.
A reservation that never ran ends at once when terminated; the provider is told with a
`terminate` request (`"instance_ran": false`) and nothing is expected back.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from brokers.http import HttpError, ProviderHttpClient
from brokers.launchers.base import (
    InstanceState,
    InstanceStatus,
    Launcher,
    LaunchSpec,
    PermanentLaunchError,
)
from common.time import iso_z
from marketplace.handoff import enqueue_on_commit
from marketplace.models import (
    LaunchRequest,
    LaunchRequestKind,
    LaunchRequestStatus,
    Reservation,
    ReservationStatus,
)
from marketplace.selectors.providers import launch_request_document
from marketplace.services.launch_requests import (
    launch_request_open,
    launch_request_record_delivery,
    launch_requests_close,
)
from marketplace.webhook_signing import SIGNATURE_HEADER, signature_header

logger = logging.getLogger(__name__)

DELIVER_LAUNCH_REQUEST = "brokers.deliver_launch_request"
EXPIRE_LAUNCH_REQUEST = "brokers.expire_launch_request"
DEFAULT_ANSWER_WITHIN_SECONDS = 600
ANSWER_WITHIN_BOUNDS = (10, 86_400)
WEBHOOK_TIMEOUT = (5.0, 10.0)  # connect, read: a provider's endpoint should answer at once
WEBHOOK_DEADLINE = 15.0  # seconds for the whole exchange, however slowly the reply comes
K = LaunchRequestKind


def instance_id_for(reservation_id: int) -> str:
    return f"listed-{reservation_id}"


def answer_within(options: dict) -> int:
    """Seconds the provider has to answer, from `Provider.config`, within sane bounds."""
    raw = options.get("answer_within_seconds", DEFAULT_ANSWER_WITHIN_SECONDS)
    low, high = ANSWER_WITHIN_BOUNDS
    try:
        return min(high, max(low, int(raw)))
    except (TypeError, ValueError):
        return DEFAULT_ANSWER_WITHIN_SECONDS


def _events_url(reservation_id: int) -> str:
    return f"/api/v1/provider/reservations/{reservation_id}/events/"


def _launch_payload(reservation: Reservation, spec: LaunchSpec) -> dict:
    offer = reservation.offer
    return {
        "provider": offer.provider.slug,
        "reservation": reservation.pk,
        "offer": {
            "id": offer.pk,
            "sku": offer.sku,
            "region": offer.region,
            "pricing": offer.pricing,
            "gpu": offer.gpu.name if offer.gpu else None,
            "gpu_count": offer.gpu_count,
        },
        "units": spec.units,
        "gpus": reservation.gpus,
        "hours": str(reservation.hours),
        "reserved_until": iso_z(reservation.reserved_until),
        "idempotency_key": spec.idempotency_key,
        "ssh_public_key": spec.ssh_public_key,
        "events_url": _events_url(reservation.pk),
    }


def _terminate_payload(reservation: Reservation, instance_ran: bool) -> dict:
    return {
        "provider": reservation.offer.provider.slug,
        "reservation": reservation.pk,
        "instance_id": reservation.instance_id,
        "instance_ran": instance_ran,
        "events_url": _events_url(reservation.pk),
    }


def _schedule(request: LaunchRequest, *, expires: bool = True) -> None:
    if request.provider.webhook_url:
        enqueue_on_commit(DELIVER_LAUNCH_REQUEST, request.pk)
    if expires:
        seconds = (request.answer_by - timezone.now()).total_seconds()
        enqueue_on_commit(EXPIRE_LAUNCH_REQUEST, request.pk, countdown=max(1.0, seconds + 1))


def request_launch(spec: LaunchSpec) -> InstanceStatus:
    """Ask the provider to start the reservation's instances; safe to call twice (the
    attempt's idempotency key is the request's key)."""
    reservation = (
        Reservation.objects.select_related("offer", "offer__provider", "offer__gpu")
        .filter(pk=spec.reservation_id)
        .first()
    )
    if reservation is None:
        raise PermanentLaunchError(f"reservation {spec.reservation_id} does not exist")
    request, created = launch_request_open(
        reservation=reservation,
        kind=K.LAUNCH,
        key=spec.idempotency_key,
        payload=_launch_payload(reservation, spec),
        answer_by=timezone.now() + timedelta(seconds=answer_within(spec.options)),
    )
    if created:
        _schedule(request)
    return InstanceStatus(
        instance_id=instance_id_for(reservation.pk),
        state=InstanceState.PENDING,
        detail=f"launch request {request.pk} waits for {reservation.offer.provider.slug}",
    )


def _reservation_of_instance(instance_id: str) -> Reservation:
    reservation = (
        Reservation.objects.select_related("offer", "offer__provider")
        .filter(instance_id=instance_id)
        .order_by("-id")
        .first()
    )
    if reservation is None:
        raise PermanentLaunchError(f"no reservation runs as {instance_id}")
    return reservation


def request_terminate(instance_id: str) -> InstanceStatus:
    """Ask the provider to stop the instance. TERMINATED when it never ran (nothing to wait
    for); PENDING otherwise: the provider confirms with a `terminated` event."""
    reservation = _reservation_of_instance(instance_id)
    instance_ran = reservation.running_since is not None
    launch_requests_close(
        reservation_id=reservation.pk, kinds=[K.LAUNCH], status=LaunchRequestStatus.CANCELLED
    )
    request, created = launch_request_open(
        reservation=reservation,
        kind=K.TERMINATE,
        key=f"reservation-{reservation.pk}-terminate",
        payload=_terminate_payload(reservation, instance_ran),
        answer_by=timezone.now()
        + timedelta(seconds=answer_within(reservation.offer.provider.config)),
    )
    if created:
        _schedule(request)
    state = InstanceState.PENDING if instance_ran else InstanceState.TERMINATED
    return InstanceStatus(instance_id=instance_id, state=state)


def instance_status(instance_id: str) -> InstanceStatus:
    """What we know from the provider's events (we never call the provider to ask)."""
    reservation = _reservation_of_instance(instance_id)
    states = {
        ReservationStatus.RUNNING: InstanceState.RUNNING,
        ReservationStatus.TERMINATED: InstanceState.TERMINATED,
        ReservationStatus.PREEMPTED: InstanceState.PREEMPTED,
        ReservationStatus.FAILED: InstanceState.FAILED,
    }
    return InstanceStatus(
        instance_id=instance_id,
        state=states.get(reservation.status, InstanceState.PENDING),
        connection=reservation.connection,
        detail=reservation.failure_reason,
    )


# --- webhook delivery ------------------------------------------------------------------


def webhook_body(request: LaunchRequest) -> bytes:
    document = launch_request_document(request)
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def deliver(*, launch_request_id: int, client: ProviderHttpClient | None = None) -> bool:
    """POST the request to the provider's webhook, signed afresh (the timestamp is part of
    the signature). Returns whether it was sent; raises HttpError when it failed (the
    attempt and error are recorded). At least once: providers dedupe by the request id."""
    request = LaunchRequest.objects.select_related("provider").filter(pk=launch_request_id).first()
    if request is None or request.status != LaunchRequestStatus.PENDING:
        return False
    provider = request.provider
    if not provider.webhook_url:
        return False
    body = webhook_body(request)
    current, *previous = provider.webhook_signing_secrets(now=timezone.now())
    headers = {
        SIGNATURE_HEADER: signature_header(current, body, previous_secrets=previous),
        "Content-Type": "application/json",
        "X-GPUMarket-Delivery": str(request.pk),
        "X-GPUMarket-Event": f"{request.kind}_request",
    }
    client = client or webhook_client()
    try:
        client.post_bytes(provider.webhook_url, body, headers)
    except HttpError as exc:
        launch_request_record_delivery(launch_request_id=request.pk, error=str(exc))
        raise
    launch_request_record_delivery(launch_request_id=request.pk)
    return True


def webhook_client() -> ProviderHttpClient:
    """The provider chose the URL: public addresses only, a deadline, the reply never kept
    (`brokers.outbound`). No retry in the client: the Celery task retries with backoff."""
    return ProviderHttpClient(
        timeout=WEBHOOK_TIMEOUT,
        max_retries=0,
        public_only=True,
        allow_http=settings.WEBHOOK_ALLOW_HTTP,
        allow_private=settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES,
        deadline=WEBHOOK_DEADLINE,
    )


def delivery_gave_up(*, launch_request_id: int, error: str) -> None:
    """Retries are spent; the request stays open for polling until it expires."""
    LaunchRequest.objects.filter(pk=launch_request_id).update(
        last_error=f"webhook delivery gave up: {error}"[:2000]
    )
    logger.warning("webhook delivery gave up", extra={"launch_request_id": launch_request_id})


class ListedLauncher(Launcher):
    name = "listed"
    reports_by_events = True

    def launch(self, spec: LaunchSpec) -> InstanceStatus:
        return request_launch(spec)

    def poll(self, instance_id: str, *, options: dict | None = None) -> InstanceStatus:
        return instance_status(instance_id)

    def terminate(self, instance_id: str, *, options: dict | None = None) -> InstanceStatus:
        return request_terminate(instance_id)
