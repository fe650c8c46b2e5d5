"""/provider/: the signed-in provider's incoming reservations."""

from __future__ import annotations

import pytest
from django.urls import reverse

from marketplace.tests.provider_fixtures import (
    make_listed_offer,
    make_listed_provider,
    reserve,
    reserve_launching,
)
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def test_it_lists_reservations_of_the_users_providers_only(client):
    # given a provider with two reservations and another provider with one
    seller = make_listed_provider(slug="acme-gpus")
    offer = make_listed_offer(seller.provider, sku="acme.h100x1")
    launching, pending = reserve_launching(offer), reserve(offer)
    other = make_listed_provider(slug="other-gpus")
    foreign = reserve(make_listed_offer(other.provider, sku="other.sku"))

    # when a member of the provider's organization opens the page
    client.force_login(seller.keyed.user)
    response = client.get("/provider/")

    # then it shows its reservations, newest first, and nobody else's
    assert response.status_code == 200
    rows = list(response.context["reservations"])
    assert [r.pk for r in rows] == [pending.pk, launching.pk]
    html = response.content.decode()
    assert "acme.h100x1" in html and "launching" in html
    assert "other.sku" not in html and f"<td>{foreign.pk}</td>" not in html
    assert 'href="/provider/"' in html  # the nav link


def test_it_refuses_buyers_and_asks_strangers_to_sign_in(client):
    seller = make_listed_provider()
    reserve(make_listed_offer(seller.provider))
    buyer_member = MembershipFactory(org=seller.keyed.org, role="buyer").user

    client.force_login(buyer_member)
    refused = client.get("/provider/")
    assert refused.status_code == 403
    assert "acme.h100x1" not in refused.content.decode()
    client.logout()
    response = client.get("/provider/")
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next=/provider/"
