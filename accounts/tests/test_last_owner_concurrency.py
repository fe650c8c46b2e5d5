"""Two owners stepping down at the same moment: one of them must stay owner. Each thread on
its own PostgreSQL connection, released together by a barrier."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections

from accounts.models import Membership, Role
from accounts.services_members import membership_change_role
from common.errors import DomainError
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("round_number", range(3))
def test_two_owners_demoting_themselves_at_once_leave_one_owner(round_number):
    first = MembershipFactory(role=Role.OWNER)
    second = MembershipFactory(org=first.org, role=Role.OWNER)
    barrier = threading.Barrier(2)

    def step_down(member: Membership) -> str:
        try:
            barrier.wait(timeout=30)
            membership_change_role(member=member, role=Role.ADMIN, actor_role=Role.OWNER)
            return "demoted"
        except DomainError as error:
            return error.code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = sorted(pool.map(step_down, [first, second]))

    assert outcomes == ["demoted", "last_owner"]
    assert Membership.objects.filter(org=first.org, role=Role.OWNER).count() == 1
