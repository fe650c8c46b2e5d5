from __future__ import annotations

from decimal import Decimal

import pytest

from accounts.models import Membership, User
from marketplace.models import Reservation, ReservationStatus
from tests.factories import MembershipFactory, OfferFactory

pytestmark = pytest.mark.django_db


def test_it_shows_the_home_page_with_live_figures(client):
    OfferFactory(price_per_gpu_hour=Decimal("1.234500"))
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="offer-count">1<' in html
    assert "$1.2345" in html


def test_it_lists_offers_and_shows_query_errors_at_their_position(client):
    OfferFactory(sku="sku-visible")
    html = client.get("/offers/").content.decode()
    assert "simcloud" in html and "H100" in html
    bad = client.get("/offers/", {"q": "colour=red"}).content.decode()
    assert 'id="query-error"' in bad


def test_it_signs_up_a_user_with_an_organization_and_signs_them_in(client):
    response = client.post(
        "/signup/",
        {"email": "New@Example.com", "password": "a-long-password-9", "organization": "New Co"},
    )
    assert (response.status_code, response["Location"]) == (302, "/quote/")
    user = User.objects.get(email="new@example.com")
    assert Membership.objects.get(user=user).org.name == "New Co"
    assert "new@example.com" in client.get("/").content.decode()


def test_it_refuses_a_duplicate_email_at_sign_up(client):
    MembershipFactory(user__email="taken@example.com")
    response = client.post(
        "/signup/",
        {"email": "taken@example.com", "password": "a-long-password-9", "organization": "X"},
    )
    assert response.status_code == 200
    assert "sign in instead" in response.content.decode()


def test_it_signs_in_with_email_and_password(client):
    MembershipFactory(user__email="ada@example.com")
    wrong = client.post("/login/", {"username": "ada@example.com", "password": "not-it"})
    assert wrong.status_code == 200 and "_auth_user_id" not in client.session
    response = client.post(
        "/login/", {"username": "ada@example.com", "password": "a-good-password-1"}
    )
    assert (response.status_code, response["Location"]) == (302, "/")
    assert "ada@example.com" in client.get("/").content.decode()


def test_it_shows_a_reservation_only_to_its_organization(client):
    owner = MembershipFactory()
    offer = OfferFactory()
    reservation = Reservation.objects.create(
        org=owner.org,
        offer=offer,
        gpus=1,
        units=1,
        hours=Decimal(1),
        price_per_hour=Decimal("2.5"),
        status=ReservationStatus.PENDING,
        reserved_until="2030-01-01T00:00:00Z",
    )
    client.force_login(owner.user)
    page = client.get(f"/reservations/{reservation.pk}/").content.decode()
    assert "Locked price" in page and "2.500000" in page and "Terminate" in page
    client.force_login(MembershipFactory().user)
    assert client.get(f"/reservations/{reservation.pk}/").status_code == 404


def test_it_asks_anonymous_visitors_to_sign_in_for_reservations(client):
    response = client.get("/reservations/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
