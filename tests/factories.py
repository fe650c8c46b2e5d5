"""factory_boy factories and small builders for tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import factory
from django.db import transaction
from django.utils import timezone

from accounts.models import ApiKey, Membership, Organization, Role, User
from accounts.services import api_key_create
from billing.models import Invoice, InvoiceStatus
from billing.periods import next_month_start
from marketplace.models import GpuModel, Offer, Provider, ProviderKind, Reservation


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    password = factory.django.Password("a-good-password-1")


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Org {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    org = factory.SubFactory(OrganizationFactory)
    role = Role.OWNER


class ProviderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Provider
        django_get_or_create = ("slug",)

    name = "Simulated Cloud"
    slug = "simcloud"
    kind = ProviderKind.SIMULATED
    launcher = "simulated"


class OfferFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Offer

    provider = factory.SubFactory(ProviderFactory)
    sku = factory.Sequence(lambda n: f"sku-{n}")
    gpu = factory.LazyFunction(lambda: GpuModel.objects.get(name="H100", memory_gb=80))
    gpu_count = 1
    gpu_memory_gb = Decimal("80")
    region = "sim-us-east-1"
    price_per_hour = Decimal("2.500000")
    price_per_gpu_hour = factory.LazyAttribute(lambda o: o.price_per_hour / o.gpu_count)
    available = 4
    observed_at = factory.LazyFunction(timezone.now)


def month_number(index: int) -> datetime:
    """The first instant of the index-th month from January 2020."""
    return datetime(2020 + index // 12, index % 12 + 1, 1, tzinfo=UTC)


class InvoiceFactory(factory.django.DjangoModelFactory):
    """An invoice written as it is, without lines: a finalised one's fields cannot change
    after its insert (migration 0004's trigger), so give them here."""

    class Meta:
        model = Invoice

    status = InvoiceStatus.PAID
    period_start = factory.Sequence(lambda n: month_number(n % 30))
    period_end = factory.LazyAttribute(lambda o: next_month_start(o.period_start))
    total = Decimal("12.50")


@dataclass
class KeyedOrg:
    user: User
    org: Organization
    key: ApiKey
    secret: str

    @property
    def headers(self) -> dict:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.secret}"}


def make_org_with_key(*, role: str = Role.OWNER, org: Organization | None = None) -> KeyedOrg:
    membership = MembershipFactory(role=Role.OWNER, **({"org": org} if org else {}))
    issued = api_key_create(org=membership.org, created_by=membership.user, name="test", role=role)
    return KeyedOrg(
        user=membership.user, org=membership.org, key=issued.api_key, secret=issued.secret
    )


def reserve_with_a_failing_first_offer(buyer: KeyedOrg, *, hours: int):
    """A reservation of an offer whose provider always fails to launch, with a slightly
    dearer offer of a healthy provider to fail over to (not launched yet)."""
    from marketplace.services.reservations import ReservationRequest, reservation_create

    full = ProviderFactory(slug="fullcloud", name="Full Cloud", config={"failure_rate": 1})
    spare = ProviderFactory(slug="sparecloud", name="Spare Cloud")
    first = OfferFactory(provider=full, sku="full.h100", price_per_hour=Decimal("2.000000"))
    OfferFactory(provider=spare, sku="spare.h100", price_per_hour=Decimal("2.200000"))
    reservation, _ = reservation_create(
        org=buyer.org,
        user=buyer.user,
        request=ReservationRequest(offer_id=first.pk, gpus=1, hours=Decimal(hours)),
    )
    return reservation


def reserve_running(*, offer: Offer | None = None, hours: str = "1") -> Reservation:
    """A one-GPU reservation of a new buyer, launched in this process (the simulated cloud
    runs it at once)."""
    from brokers.services import launch
    from marketplace.services.reservations import ReservationRequest, reservation_create

    buyer = make_org_with_key(role="buyer")
    reservation, _ = reservation_create(
        org=buyer.org,
        user=buyer.user,
        request=ReservationRequest(
            offer_id=(offer or OfferFactory()).pk, gpus=1, hours=Decimal(hours)
        ),
    )
    launch.launch_reservation(reservation_id=reservation.pk)
    return Reservation.objects.get(pk=reservation.pk)


def backdate_running(reservation_id: int, *, seconds: int) -> datetime:
    """Make a running reservation have run `seconds` longer: its start, its open run, and
    the run's first usage interval if one was recorded already all move back. Tests that
    need billable time change these rows because the Celery worker process runs on its own
    clock, which time-machine in the test process cannot move. Returns the new start."""
    shift = timedelta(seconds=seconds)
    with transaction.atomic():  # the row lock makes a worker's transition wait for us
        reservation = Reservation.objects.select_for_update().get(pk=reservation_id)
        run = reservation.runs.get(ended_at__isnull=True)
        reservation.running_since -= shift
        reservation.save(update_fields=["running_since"])
        run.started_at -= shift
        run.save(update_fields=["started_at"])
        first = run.usage.order_by("interval_start").first()
        if first is not None:
            first.interval_start -= shift
            first.seconds += seconds
            first.save(update_fields=["interval_start", "seconds"])
    return run.started_at
