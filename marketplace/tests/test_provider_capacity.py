"""A provider re-sending its list must not resell capacity we sold but it has not seen yet."""

from __future__ import annotations

import pytest

from marketplace.models import Offer, ReservationStatus
from marketplace.services.reservations import reservation_transition
from marketplace.tests.provider_fixtures import make_listed_provider, reserve
from marketplace.tests.test_provider_offers_api import URL, offer_item, put_offers

pytestmark = pytest.mark.django_db


def test_it_keeps_unconfirmed_reservations_out_of_a_resent_capacity(api_client):
    # given a provider listing 3 instances, one of which a buyer reserved (not yet confirmed)
    seller = make_listed_provider()
    assert put_offers(api_client, seller, [offer_item(available=3)]).status_code == 200
    offer = Offer.objects.get(provider=seller.provider)
    reservation = reserve(offer)
    offer.refresh_from_db()
    assert offer.available == 2

    # when the provider sends the same list again (it still counts 3 free)
    put_offers(api_client, seller, [offer_item(available=3)])

    # then only 2 can be sold
    offer.refresh_from_db()
    assert offer.available == 2

    # and a price-only update keeps the capacity as it is
    response = api_client.patch(
        f"{URL}{offer.pk}/", {"price_per_hour": "18.000000"}, format="json", **seller.headers
    )
    assert response.status_code == 200, response.content
    offer.refresh_from_db()
    assert (str(offer.price_per_hour), offer.available) == ("18.000000", 2)

    # when the instance runs, the provider's own count includes it: 2 free is 2 free
    reservation_transition(reservation_id=reservation.pk, to=ReservationStatus.LAUNCHING)
    reservation_transition(reservation_id=reservation.pk, to=ReservationStatus.RUNNING)
    put_offers(api_client, seller, [offer_item(available=2)])
    offer.refresh_from_db()
    assert offer.available == 2
