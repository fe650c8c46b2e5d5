"""The key read of every signed request (accounts/key_lookup.py): one statement, and the
same key, organization and creator as the ORM reads them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.key_lookup import api_key_with_creator
from accounts.models import ApiKey, Membership, Organization, Role, User
from accounts.services import api_key_create
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def every_column(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


@pytest.fixture
def key() -> ApiKey:
    admin = MembershipFactory(role=Role.ADMIN)
    issued = api_key_create(org=admin.org, created_by=admin.user, name="ci", role=Role.BUYER)
    ApiKey.objects.filter(pk=issued.api_key.pk).update(
        last_used_at=timezone.now() - timedelta(hours=1),
        expires_at=timezone.now() + timedelta(days=3),
    )
    return ApiKey.objects.get(pk=issued.api_key.pk)


def test_the_key_its_organization_and_creator_as_the_orm_reads_them_in_one_query(key):
    with CaptureQueriesContext(connection) as queries:
        found = api_key_with_creator(key.prefix)
        org, creator = found.org, found.created_by  # loaded with it

    assert len(queries) == 1
    assert every_column(found) == every_column(key)
    assert every_column(org) == every_column(Organization.objects.get(pk=key.org_id))
    assert every_column(creator) == every_column(User.objects.get(pk=key.created_by_id))
    assert found.creator_role == Role.ADMIN
    assert not found._state.adding and found._state.db == "default"


def test_the_creators_role_follows_the_membership(key):
    membership = Membership.objects.get(org_id=key.org_id, user_id=key.created_by_id)
    membership.role = Role.FINANCE
    membership.save()
    assert api_key_with_creator(key.prefix).creator_role == Role.FINANCE

    membership.delete()
    assert api_key_with_creator(key.prefix).creator_role is None


def test_the_creators_membership_of_another_organization_is_not_the_role(key):
    MembershipFactory(user=key.created_by, role=Role.OWNER)  # another organization

    assert api_key_with_creator(key.prefix).creator_role == Role.ADMIN


def test_an_unknown_prefix_is_none(key):
    assert api_key_with_creator("0" * 12) is None
    assert api_key_with_creator(key.prefix + "x") is None
