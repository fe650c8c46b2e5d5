"""Builders for provider-side tests: an organization with a listed provider and a key,
its offers, and reservations of them moved to the state a test needs."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from marketplace.models import Offer, Provider, Reservation
from marketplace.services.launches import launch_attempt_open
from marketplace.services.providers import provider_register
from marketplace.services.reservations import (
    ReservationRequest,
    reservation_create,
    reservation_start_launch,
)
from tests.factories import KeyedOrg, OfferFactory, make_org_with_key


@dataclass
class ListedProvider:
    keyed: KeyedOrg
    provider: Provider

    @property
    def headers(self) -> dict:
        return self.keyed.headers


def make_listed_provider(
    *, slug: str = "acme-gpus", webhook_url: str = "", role: str = "provider"
) -> ListedProvider:
    keyed = make_org_with_key(role=role)
    provider = provider_register(
        org=keyed.org, name=slug.replace("-", " ").title(), slug=slug, webhook_url=webhook_url
    )
    return ListedProvider(keyed=keyed, provider=provider)


def make_listed_offer(provider: Provider, **fields) -> Offer:
    values = {"sku": "acme.h100x1", "price_per_hour": Decimal("2.000000"), "available": 4}
    return OfferFactory(provider=provider, **(values | fields))


def reserve(offer: Offer, *, buyer: KeyedOrg | None = None, hours: str = "1") -> Reservation:
    buyer = buyer or make_org_with_key(role="buyer")
    reservation, _ = reservation_create(
        org=buyer.org,
        user=buyer.user,
        request=ReservationRequest(offer_id=offer.pk, gpus=offer.gpu_count, hours=Decimal(hours)),
    )
    return reservation


def reserve_launching(offer: Offer, **options) -> Reservation:
    """A reservation the `listed` launcher has asked the provider to start (as a worker
    would leave it: launching, one attempt open)."""
    reservation = reserve(offer, **options)
    reservation = reservation_start_launch(reservation_id=reservation.pk)
    launch_attempt_open(reservation=reservation)
    Reservation.objects.filter(pk=reservation.pk).update(instance_id=f"listed-{reservation.pk}")
    reservation.refresh_from_db()
    return reservation


def record_sent_tasks(monkeypatch) -> list[tuple]:
    """Tasks handed to Celery by name (name, args, countdown), recorded instead of queued.
    The worker tests cross the real queue."""
    calls: list[tuple] = []

    class Recorder:
        def send_task(self, name, args=None, countdown=None):
            calls.append((name, tuple(args or ()), countdown))

    monkeypatch.setattr("marketplace.handoff.current_app", Recorder())
    return calls
