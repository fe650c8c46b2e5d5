from __future__ import annotations

from decimal import Decimal

import pytest

from accounts.models import Role
from marketplace.models import Reservation
from tests.factories import MembershipFactory, OfferFactory

pytestmark = pytest.mark.django_db


def test_it_reserves_an_offer_from_the_browser_form(client):
    # given a signed-in buyer and an 8-GPU offer with 2 instances free
    member = MembershipFactory(role=Role.BUYER)
    offer = OfferFactory(gpu_count=8, price_per_hour=Decimal("24.000000"), available=2)
    client.force_login(member.user)
    page = client.get(f"/offers/{offer.pk}/reserve/").content.decode()
    assert '<option value="8">' in page and '<option value="16">' in page
    # when they reserve 16 GPUs for 3 hours
    response = client.post(f"/offers/{offer.pk}/reserve/", {"gpus": "16", "hours": "3"})
    # then the reservation exists at the locked price and they see its page
    reservation = Reservation.objects.get(org=member.org)
    assert response.status_code == 302
    assert response["Location"] == f"/reservations/{reservation.pk}/"
    assert (reservation.gpus, reservation.units, reservation.price_per_hour) == (
        16,
        2,
        Decimal("48.000000"),
    )
    offer.refresh_from_db()
    assert offer.available == 0


def test_it_explains_why_a_reservation_was_refused(client):
    member = MembershipFactory(role=Role.FINANCE)
    offer = OfferFactory()
    client.force_login(member.user)
    response = client.post(f"/offers/{offer.pk}/reserve/", {"gpus": "1", "hours": "1"})
    # the 403 page, as the API answers (finance may read reservations, not make them)
    assert response.status_code == 403
    assert "The role &#x27;finance&#x27; may not do this (reserve)." in response.content.decode()
    assert not Reservation.objects.exists()


def test_it_rejects_bad_form_input_without_reserving(client):
    member = MembershipFactory(role=Role.BUYER)
    offer = OfferFactory()
    client.force_login(member.user)
    response = client.post(f"/offers/{offer.pk}/reserve/", {"gpus": "7", "hours": "-1"})
    assert response.status_code == 200
    assert not Reservation.objects.exists()
    assert client.get("/offers/999999/reserve/").status_code == 404


def test_it_links_reservable_offers_from_the_offers_table(client):
    reservable = OfferFactory(sku="can-reserve")
    full = OfferFactory(sku="sold-out", available=0)
    html = client.get("/offers/").content.decode()
    assert f'href="/offers/{reservable.pk}/reserve/"' in html
    assert f'href="/offers/{full.pk}/reserve/"' not in html
