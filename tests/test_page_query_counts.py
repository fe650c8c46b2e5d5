"""Pages stay fast as an organization grows: a page's number of queries does not depend on how
many rows it lists (no query per row), and stays small.

The pages come from the page × role table (tests/test_page_permissions.py), opened by an owner,
who may read them all; each is asked for twice, before and after the organization gains more of
everything (offers, reservations with runs, invoices, API keys, members)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Role
from accounts.services import api_key_create
from billing.tests.payouts_fixtures import issued_invoice
from marketplace.models import Reservation, ReservationStatus
from tests.factories import MembershipFactory, OfferFactory
from tests.test_page_permissions import CONNECTION, EXPECTED, ROLES, SEPTEMBER, World

pytestmark = pytest.mark.django_db

MOST_QUERIES = 30  # sessions, the member and their organization, the funds notice, the page
MORE = 6


def _owner_pages() -> list[str]:
    owner = ROLES.index(Role.OWNER)
    return sorted(
        name
        for name, expect in EXPECTED.items()
        if expect.method == "GET" and expect.by_role[owner] == 200
    )


def _grow(world: World) -> None:
    """More of every row a page lists, of the same organization."""
    owner = MembershipFactory(org=world.org, role=Role.OWNER).user
    for n in range(MORE):
        offer = OfferFactory(provider=world.offer.provider, sku=f"more-{n}")
        reservation = Reservation.objects.create(
            org=world.org, offer=offer, gpus=1, units=1, hours=Decimal(1),
            price_per_hour=Decimal("1.500000"), reserved_until=SEPTEMBER + timedelta(days=1),
        )  # fmt: skip
        Reservation.objects.filter(pk=reservation.pk).update(
            status=ReservationStatus.RUNNING, instance_id=f"i-more-{n}", connection=CONNECTION,
            running_since=SEPTEMBER,
        )  # fmt: skip
        reservation.runs.create(
            number=1, offer=offer, instance_id=f"i-more-{n}", price_per_hour=Decimal("1.500000"),
            currency="USD", started_at=SEPTEMBER,
        )  # fmt: skip
        issued_invoice(
            world.org, SEPTEMBER + timedelta(days=31 * (n + 1)), f"GM-2026-{n + 10:06d}",
            [(reservation, "2.00")], tax="0.00",
        )  # fmt: skip
        api_key_create(org=world.org, created_by=owner, name=f"key-{n}", role=Role.BUYER)
        MembershipFactory(org=world.org, role=Role.BUYER)


def _queries(client, path: str) -> int:
    cache.clear()  # counted cold, as after a cache entry expires: the most a page asks for
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200, path
    return len(captured)


def test_no_page_runs_a_query_per_row(client):
    world = World()
    paths = {name: world.path(name) for name in _owner_pages()}
    client.force_login(MembershipFactory(org=world.org, role=Role.OWNER).user)
    before = {name: _queries(client, path) for name, path in paths.items()}

    _grow(world)
    after = {name: _queries(client, path) for name, path in paths.items()}

    assert {name: n for name, n in after.items() if n != before[name]} == {}
    assert {name: n for name, n in after.items() if n > MOST_QUERIES} == {}
