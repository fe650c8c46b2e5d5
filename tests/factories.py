"""factory_boy factories and small builders for tests."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import factory
from django.utils import timezone

from accounts.models import ApiKey, Membership, Organization, Role, User
from accounts.services import api_key_create
from marketplace.models import GpuModel, Offer, Provider, ProviderKind


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
