"""Reservation writes: create (capacity taken atomically, price locked), state moves, end."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from common.errors import DomainError
from marketplace.handoff import (
    LAUNCH_RESERVATION,
    RECORD_RESERVATION_USAGE,
    TERMINATE_RESERVATION,
    enqueue_on_commit,
)
from marketplace.models import (
    EgressReport,
    Offer,
    OfferStatus,
    Reservation,
    ReservationEvent,
    ReservationStatus,
)
from marketplace.models.reservations import ALLOWED_TRANSITIONS, CAPACITY_HOLDING_STATUSES
from marketplace.quoting.costs import ProviderRates, Usage, leg_cost
from marketplace.reservability import why_not_reservable
from marketplace.selectors.failover import default_price_limit
from marketplace.services.runs import reserved_end, run_close, run_open
from marketplace.signals import reservation_creating

S = ReservationStatus
MAX_HOURS = Decimal(24 * 366)
# The instance is up (and billed) in these states: a run is open.
RUN_STATUSES = frozenset({S.RUNNING, S.TERMINATING})


class IllegalTransition(Exception):
    pass


def request_fingerprint(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def whole_seconds(moment: datetime) -> datetime:
    # Usage is billed to the second: every boundary is a whole second.
    return moment.replace(microsecond=0)


@dataclass(frozen=True)
class ReservationRequest:
    offer_id: int
    gpus: int | None
    hours: Decimal
    idempotency_key: str = ""
    max_price_per_hour: Decimal | None = None
    auto_relaunch: bool = False
    # The offer's price per hour as the buyer saw it: a different price now is refused.
    expected_price_per_hour: Decimal | None = None


@dataclass(frozen=True)
class PricedLeg:
    """What a reservation keeps of the price it was made at (docs/billing.md, "Quote =
    invoice"): its price, the extras and their rates, and the total they come to."""

    price_per_hour: Decimal
    boot_seconds: int = 0
    disk_gb: Decimal = Decimal(0)
    disk_price_per_hour: Decimal = Decimal(0)
    egress_gb: Decimal = Decimal(0)
    egress_price_per_gb: Decimal = Decimal(0)
    total: Decimal | None = None

    @classmethod
    def of_quote_leg(cls, leg: dict) -> PricedLeg:
        """A leg as the quote stored it (quoting/storage.py)."""
        number = lambda name: Decimal(str(leg.get(name, 0)))  # noqa: E731
        return cls(
            price_per_hour=number("price_per_hour"),
            boot_seconds=int(leg.get("boot_seconds", 0)),
            disk_gb=number("disk_gb"),
            disk_price_per_hour=number("disk_price_per_hour"),
            egress_gb=number("egress_gb"),
            egress_price_per_gb=number("egress_price_per_gb"),
            total=number("subtotal") if "subtotal" in leg else None,
        )

    @classmethod
    def of_offer(cls, offer: Offer, units: int, hours: Decimal) -> PricedLeg:
        """A reservation straight from an offer: today's price and the provider's rates,
        priced as a quote for `hours` with no disk or egress asked would be."""
        provider = offer.provider
        rates = ProviderRates.of(provider)
        gpus = units * offer.gpu_count
        cost = leg_cost(
            offer_price_per_hour=offer.price_per_hour,
            units=units,
            gpus=gpus,
            plan_gpus=max(gpus, 1),
            rates=rates,
            usage=Usage(hours=hours, currency=offer.currency),
        )
        return cls(
            price_per_hour=cost.price_per_hour,
            boot_seconds=rates.boot_seconds,
            egress_price_per_gb=rates.egress_price_per_gb,
            total=cost.subtotal(offer.currency),
        )


def _find_idempotent(org, idempotency_key: str, fingerprint: str) -> Reservation | None:
    if not idempotency_key:
        return None
    existing = Reservation.objects.filter(org=org, idempotency_key=idempotency_key).first()
    if existing is not None and existing.request_fingerprint != fingerprint:
        raise DomainError(
            "idempotency_conflict",
            "This Idempotency-Key was used with a different request body.",
        )
    return existing


def _units_for(offer: Offer, gpus: int | None) -> int:
    if offer.gpu_count == 0:
        return 1
    gpus = offer.gpu_count if gpus is None else gpus
    if gpus < 1 or gpus % offer.gpu_count:
        raise DomainError(
            "invalid_gpus",
            f"gpus must be a positive multiple of the offer's {offer.gpu_count} GPUs per instance.",
        )
    return gpus // offer.gpu_count


def offer_take_capacity(*, offer_id: int, units: int) -> bool:
    """Take `units` of the offer's capacity, or return False: one conditional UPDATE, so
    concurrent requests can never oversell (the row lock serialises them; the WHERE re-checks)."""
    return bool(
        Offer.objects.filter(pk=offer_id, status=OfferStatus.ACTIVE, available__gte=units).update(
            available=F("available") - units
        )
    )


def offer_return_capacity(*, offer_id: int, units: int) -> None:
    Offer.objects.filter(pk=offer_id).update(available=F("available") + units)


def _take_capacity(offer: Offer, units: int) -> Offer:
    if not offer_take_capacity(offer_id=offer.pk, units=units):
        raise DomainError("capacity_unavailable", "That capacity is no longer available.")
    return Offer.objects.select_related("provider").get(pk=offer.pk)


def _get_reservable_offer(offer_id: int) -> Offer:
    offer = Offer.objects.select_related("provider").filter(pk=offer_id).first()
    if offer is None:
        raise DomainError("not_found", f"Offer {offer_id} does not exist.")
    why_not = why_not_reservable(offer.provider)
    if why_not:
        raise DomainError("not_launchable", f"Offers of {offer.provider.slug} cannot be "
                          f"reserved here: {why_not}")  # fmt: skip
    return offer


def reservation_create(
    *, org, user, request: ReservationRequest, priced: PricedLeg | None = None, quote=None
) -> tuple[Reservation, bool]:
    """Returns (reservation, created). A repeated Idempotency-Key returns the first one."""
    fingerprint = request_fingerprint(
        request.__dict__ | {"quote": str(quote.pk) if quote else None}
    )
    existing = _find_idempotent(org, request.idempotency_key, fingerprint)
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            reservation = _create_locked(org, user, request, fingerprint, priced, quote)
    except IntegrityError:
        # A concurrent request with the same Idempotency-Key won the race.
        existing = _find_idempotent(org, request.idempotency_key, fingerprint)
        if existing is None:
            raise
        return existing, False
    return reservation, True


def reservations_create_for_plan(
    *, org, user, quote, legs: list[tuple[ReservationRequest, PricedLeg]]
) -> tuple[list[Reservation], bool]:
    """Reserve every leg of a quote's plan, all or nothing: the capacity of all legs is taken
    in one transaction, so a buyer never holds half a plan. Each leg is a reservation at the
    price the quote locked for it. Returns (reservations, created); a repeated
    Idempotency-Key returns the plan it made the first time."""
    first = legs[0][0]
    fingerprint = request_fingerprint(first.__dict__ | {"quote": str(quote.pk)})
    existing = _find_idempotent(org, first.idempotency_key, fingerprint)
    if existing is not None:
        return _plan_of(existing), False
    try:
        with transaction.atomic():
            reservations = [
                _create_locked(org, user, request, fingerprint, priced, quote)
                for request, priced in legs
            ]
    except IntegrityError:
        existing = _find_idempotent(org, first.idempotency_key, fingerprint)
        if existing is None:
            raise
        return _plan_of(existing), False
    return reservations, True


def leg_idempotency_key(key: str, leg_number: int) -> str:
    """Leg 1 carries the buyer's key; the others derive theirs (the key is unique per org)."""
    return key if not key or leg_number == 1 else f"{key}#{leg_number}"


def _plan_of(first: Reservation) -> list[Reservation]:
    key = first.idempotency_key
    return list(
        Reservation.objects.filter(org_id=first.org_id, quote_id=first.quote_id)
        .filter(Q(idempotency_key=key) | Q(idempotency_key__startswith=f"{key}#"))
        .order_by("id")
    )


def _create_locked(
    org, user, request: ReservationRequest, fingerprint, priced: PricedLeg | None, quote
) -> Reservation:
    offer = _get_reservable_offer(request.offer_id)
    _check_expected_price(offer, request.expected_price_per_hour)
    units = _units_for(offer, request.gpus)
    # A quote's leg keeps what the quote priced; otherwise today's offer price and rates.
    priced = priced or PricedLeg.of_offer(offer, units, request.hours)
    reservation_creating.send(
        sender=Reservation, org=org, currency=offer.currency, amount=priced.total
    )
    offer = _take_capacity(offer, units)
    max_price_per_hour = _price_limit(request.max_price_per_hour, priced.price_per_hour)
    now = timezone.now()
    reservation = Reservation.objects.create(
        org=org,
        created_by=user,
        offer=offer,
        quote=quote,
        gpus=units * offer.gpu_count,
        units=units,
        hours=request.hours,
        price_per_hour=priced.price_per_hour,
        boot_seconds=priced.boot_seconds,
        disk_gb=priced.disk_gb,
        disk_price_per_hour=priced.disk_price_per_hour,
        egress_gb=priced.egress_gb,
        egress_price_per_gb=priced.egress_price_per_gb,
        quoted_total=priced.total,
        currency=offer.currency,
        max_price_per_hour=max_price_per_hour,
        idempotency_key=request.idempotency_key,
        request_fingerprint=fingerprint,
        auto_relaunch=request.auto_relaunch,
        # Until it first runs: the latest it may start (run_open sets the reserved end).
        reserved_until=reserved_end(whole_seconds(now), request.hours),
    )
    _record_event(reservation, "", S.PENDING, "Reserved; price locked.", at=now)
    enqueue_on_commit(LAUNCH_RESERVATION, reservation.pk)
    return reservation


def _check_expected_price(offer: Offer, expected: Decimal | None) -> None:
    if expected is not None and expected != offer.price_per_hour:
        raise DomainError(
            "price_changed",
            f"The offer's price is now {offer.price_per_hour}/h, not {expected}/h.",
            price_per_hour=str(offer.price_per_hour),
        )


def _price_limit(requested: Decimal | None, price_per_hour: Decimal) -> Decimal:
    """The most the buyer accepts per hour if failover moves the reservation elsewhere."""
    if requested is None:
        return default_price_limit(price_per_hour)
    if requested < price_per_hour:
        raise DomainError(
            "price_above_limit",
            f"The price is {price_per_hour}/h, above your max_price_per_hour of {requested}.",
        )
    return requested


def _record_event(reservation, from_status, to_status, message="", *, at=None, data=None):
    ReservationEvent.objects.create(
        reservation=reservation,
        from_status=from_status,
        to_status=to_status,
        at=at or timezone.now(),
        message=message[:2000],
        data=data or {},
    )


def _release_capacity(reservation: Reservation) -> None:
    offer_return_capacity(offer_id=reservation.offer_id, units=reservation.units)


def _track_runs(reservation: Reservation, source: str, to: str) -> None:
    if to in RUN_STATUSES and source not in RUN_STATUSES:
        started_at = reservation.running_since or whole_seconds(timezone.now())
        run_open(reservation=reservation, started_at=started_at)
    elif source in RUN_STATUSES and to not in RUN_STATUSES:
        ended_at = reservation.ended_at or whole_seconds(timezone.now())
        run_close(reservation=reservation, ended_at=ended_at)


@transaction.atomic
def reservation_transition(
    *, reservation_id: int, to: str, message: str = "", data: dict | None = None, **fields
) -> Reservation:
    """Move a reservation to `to` if the state machine allows it; raise IllegalTransition
    otherwise. The row lock makes concurrent moves (a worker and a user) take turns."""
    reservation = Reservation.objects.select_for_update().get(pk=reservation_id)
    source = reservation.status
    if to not in ALLOWED_TRANSITIONS[source]:
        raise IllegalTransition(f"reservation {reservation_id}: {source} -> {to} is not allowed")
    reservation.status = to
    for name, value in fields.items():
        setattr(reservation, name, value)
    reservation.save()
    if source in CAPACITY_HOLDING_STATUSES and to not in CAPACITY_HOLDING_STATUSES:
        _release_capacity(reservation)
    _track_runs(reservation, source, to)
    _record_event(reservation, source, to, message, data=data)
    return reservation


def reservation_start_launch(*, reservation_id: int) -> Reservation:
    return reservation_transition(
        reservation_id=reservation_id, to=S.LAUNCHING, message="Launching."
    )


def reservation_mark_running(
    *, reservation_id: int, instance_id: str, connection: dict, at: datetime | None = None
) -> Reservation:
    return reservation_transition(
        reservation_id=reservation_id,
        to=S.RUNNING,
        message="Instance is running.",
        instance_id=instance_id,
        connection=connection,
        running_since=whole_seconds(at or timezone.now()),
    )


def reservation_mark_failed(
    *, reservation_id: int, reason: str, at: datetime | None = None
) -> Reservation:
    reservation = reservation_transition(
        reservation_id=reservation_id,
        to=S.FAILED,
        message=reason,
        failure_reason=reason,
        ended_at=whole_seconds(at or timezone.now()),
    )
    if reservation.running_since:
        enqueue_on_commit(RECORD_RESERVATION_USAGE, reservation.pk)
    return reservation


@transaction.atomic
def reservation_request_termination(
    *, reservation: Reservation, reason: str = "Terminated on request."
) -> Reservation:
    """A buyer (or the scheduler) asks to end a reservation. Never launched: ends now.
    Launching or running: the worker terminates the instance, then marks it terminated."""
    current = Reservation.objects.select_for_update().get(pk=reservation.pk)
    if current.status == S.PENDING:
        return reservation_transition(
            reservation_id=current.pk,
            to=S.TERMINATED,
            message=reason,
            ended_at=whole_seconds(timezone.now()),
        )
    if current.status in (S.LAUNCHING, S.RUNNING):
        current = reservation_transition(
            reservation_id=current.pk,
            to=S.TERMINATING,
            message=reason,
            termination_asked_at=timezone.now(),
        )
        enqueue_on_commit(TERMINATE_RESERVATION, current.pk)
        return current
    if current.status == S.TERMINATING:
        # Already on its way; but if it has not ended within the grace, its task may be lost.
        reservation_termination_claim_retry(
            reservation_id=current.pk, stuck_since=termination_retry_cutoff()
        )
        current.refresh_from_db()
        return current
    raise DomainError("invalid_state", f"A {current.status} reservation cannot be terminated.")


def termination_retry_cutoff() -> datetime:
    """Terminations asked for before this are overdue: their task is queued again."""
    return timezone.now() - timedelta(seconds=settings.TERMINATION_RETRY_AFTER_SECONDS)


def reservation_termination_claim_retry(*, reservation_id: int, stuck_since: datetime) -> bool:
    """Queue the terminate task again for a reservation still TERMINATING since before
    `stuck_since`. The conditional UPDATE is the claim: of two sweeps (or a sweep and a
    buyer) racing, only the one whose UPDATE moved `termination_asked_at` queues the task,
    and the next retry waits another grace. Terminating is safe to run twice."""
    claimed = Reservation.objects.filter(
        pk=reservation_id, status=S.TERMINATING, termination_asked_at__lte=stuck_since
    ).update(termination_asked_at=timezone.now())
    if claimed:
        enqueue_on_commit(TERMINATE_RESERVATION, reservation_id)
    return bool(claimed)


def reservation_mark_terminated(
    *, reservation_id: int, at: datetime | None = None, message: str = "Instance terminated."
) -> Reservation:
    reservation = reservation_transition(
        reservation_id=reservation_id,
        to=S.TERMINATED,
        message=message,
        ended_at=whole_seconds(at or timezone.now()),
    )
    enqueue_on_commit(RECORD_RESERVATION_USAGE, reservation.pk)
    return reservation


def reservation_mark_preempted(
    *, reservation_id: int, at: datetime | None = None, message: str = "Instance preempted."
) -> Reservation:
    """The provider took the instance back: usage stops at the preemption time, and the
    capacity returns to the offer. With `auto_relaunch` the launch task places it again
    (`reservation_relaunch`: PREEMPTED -> PENDING) and launches it through the same path."""
    reservation = reservation_transition(
        reservation_id=reservation_id,
        to=S.PREEMPTED,
        message=message,
        ended_at=whole_seconds(at or timezone.now()),
    )
    enqueue_on_commit(RECORD_RESERVATION_USAGE, reservation.pk)
    if reservation.auto_relaunch:
        enqueue_on_commit(LAUNCH_RESERVATION, reservation.pk)
    return reservation


def reservation_egress_report(*, reservation_id: int, total_gb: Decimal, at: datetime) -> bool:
    """A provider's running total of the data a reservation sent out. What it adds to the
    largest total reported before is recorded (billing bills it in the month of `at`); a
    repeated or smaller total adds nothing. Returns whether it added anything."""
    with transaction.atomic():
        # The row lock orders two reports of one reservation: each sees the other's total.
        Reservation.objects.select_for_update().filter(pk=reservation_id).first()
        reported = EgressReport.objects.filter(reservation_id=reservation_id).aggregate(
            total=Max("total_gb")
        )["total"] or Decimal(0)
        if total_gb <= reported:
            return False
        EgressReport.objects.create(
            reservation_id=reservation_id,
            reported_at=whole_seconds(at),
            total_gb=total_gb,
            gb=total_gb - reported,
        )
    enqueue_on_commit(RECORD_RESERVATION_USAGE, reservation_id)
    return True


def reservations_billed_set(*, billed: dict[int, tuple[int, Decimal]]) -> None:
    """Record what billing has metered and billed so far of each reservation (the API's
    `usage_seconds` and `cost`): {reservation id: (seconds, cost)}, in one UPDATE. No state
    changes, so no row lock is needed."""
    if not billed:
        return
    rows = [(pk, seconds, cost) for pk, (seconds, cost) in sorted(billed.items())]
    values = ", ".join(["(%s, %s, %s)"] * len(rows))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Reservation._meta.db_table} AS r"
            " SET usage_seconds = v.seconds::bigint, cost = v.cost::numeric"
            f" FROM (VALUES {values}) AS v(id, seconds, cost) WHERE r.id = v.id::bigint",
            [item for row in rows for item in row],
        )
