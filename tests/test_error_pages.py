"""Pages show a refusal as the API does (its status and message), never as an empty page."""

from __future__ import annotations

import pytest

from accounts.models import Role
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_it_tells_a_member_whose_role_cannot_see_invoices_so(client):
    membership = MembershipFactory(role=Role.BUYER)
    client.force_login(membership.user)
    response = client.get("/invoices/")
    assert response.status_code == 403
    html = response.content.decode()
    assert "The role &#x27;buyer&#x27; may not do this (billing)." in html
    assert "permission_denied" in html


def test_it_tells_a_user_without_an_organization_to_create_one(client):
    client.force_login(UserFactory())
    response = client.get("/reservations/")
    assert response.status_code == 403
    assert "Create or join an organization first." in response.content.decode()


def test_it_still_lists_invoices_for_finance(client):
    membership = MembershipFactory(role=Role.FINANCE)
    client.force_login(membership.user)
    response = client.get("/invoices/")
    assert response.status_code == 200
    assert "No invoices yet." in response.content.decode()
