"""Pages are limited too (common/page_limits.py): sign-in, sign-up and the admin's sign-in
against password guessing, per e-mail and address, and per address; every other form sent
per user, else per address; the offers search. A refusal is the 429 page with Retry-After.
Time is frozen at the start of a quarter of an hour, so the waits are exact."""

from __future__ import annotations

import pytest

from accounts.models import Role, User
from marketplace.models import Reservation
from tests.clock import frozen_at_t0
from tests.factories import MembershipFactory, OfferFactory, UserFactory

pytestmark = pytest.mark.django_db

CLIENT = "198.51.100.1"
PASSWORD = "a-good-password-1"  # the factories'


@pytest.fixture(autouse=True)
def _frozen():
    with frozen_at_t0() as move_to:
        yield move_to


def _sign_in(client, email: str, password: str, *, address: str = CLIENT, path: str = "/login/"):
    return client.post(path, {"username": email, "password": password}, REMOTE_ADDR=address)


def test_failed_sign_ins_for_an_email_from_an_address_are_cut_off_after_five(client, rate_limits):
    rate_limits(auth_failures="5/15min")
    MembershipFactory(user__email="ada@example.com")

    failures = [_sign_in(client, "ada@example.com", "guess").status_code for _ in range(5)]
    sixth = _sign_in(client, "ada@example.com", "guess")
    right = _sign_in(client, "ada@example.com", PASSWORD)

    assert failures == [200] * 5
    assert sixth.status_code == 429
    # 5 at the start of a quarter weigh 4 (room for one) a fifth into the next: 15 + 3 min
    assert sixth["Retry-After"] == "1080"
    assert "Too many requests; try again in 1080 seconds." in sixth.content.decode()
    # the password is not even checked until then
    assert right.status_code == 429 and "_auth_user_id" not in client.session
    # another address may still try that account; this one another account
    assert _sign_in(client, "ada@example.com", PASSWORD, address="198.51.100.2").status_code == 302
    assert _sign_in(client, "bob@example.com", "guess").status_code == 200


def test_it_lets_the_owner_back_in_once_the_wait_is_over(client, rate_limits, _frozen):
    rate_limits(auth_failures="5/15min")
    MembershipFactory(user__email="ada@example.com")
    for _ in range(5):
        _sign_in(client, "ada@example.com", "guess")

    _frozen(1079)
    assert _sign_in(client, "ada@example.com", PASSWORD).status_code == 429
    _frozen(1080)
    assert _sign_in(client, "ada@example.com", PASSWORD).status_code == 302


def test_a_sign_in_clears_the_failures_of_its_address(client, rate_limits):
    rate_limits(auth_failures="5/15min")
    MembershipFactory(user__email="ada@example.com")
    for _ in range(4):
        _sign_in(client, "ada@example.com", "typo")
    assert _sign_in(client, "ada@example.com", PASSWORD).status_code == 302
    client.post("/logout/", REMOTE_ADDR=CLIENT)

    again = [_sign_in(client, "ada@example.com", "typo").status_code for _ in range(6)]

    assert again == [200] * 5 + [429]


def test_failures_for_one_account_are_limited_whatever_the_address(client, rate_limits):
    rate_limits(auth_failures_account="8/h")
    MembershipFactory(user__email="ada@example.com")

    spread = [
        _sign_in(client, "ada@example.com", "guess", address=f"203.0.113.{n}").status_code
        for n in range(9)
    ]

    assert spread == [200] * 8 + [429]


def test_sign_in_forms_are_limited_per_address_whatever_the_email(client, rate_limits):
    rate_limits(auth="3/15min")

    tries = [_sign_in(client, f"user{n}@example.com", "guess").status_code for n in range(4)]

    assert tries == [200, 200, 200, 429]
    assert _sign_in(client, "user9@example.com", "guess", address="198.51.100.2").status_code == 200


def test_sign_ups_are_limited_per_address(client, rate_limits):
    rate_limits(auth="2/15min")

    def sign_up(n: int):
        form = {
            "email": f"new{n}@example.com",
            "password": "a-long-password-9",
            "organization": "X",
        }
        return client.post("/signup/", form, REMOTE_ADDR=CLIENT).status_code

    assert [sign_up(n) for n in range(3)] == [302, 302, 429]
    assert not User.objects.filter(email="new2@example.com").exists()


def test_probing_an_email_at_sign_up_is_limited_like_a_failed_sign_in(client, rate_limits):
    rate_limits(auth_failures="3/15min")
    MembershipFactory(user__email="taken@example.com")
    form = {"email": "taken@example.com", "password": "a-long-password-9", "organization": "X"}

    probes = [client.post("/signup/", form, REMOTE_ADDR=CLIENT).status_code for _ in range(4)]

    assert probes == [200, 200, 200, 429]


def test_the_admin_sign_in_is_limited_the_same_way(client, rate_limits):
    rate_limits(auth_failures="5/15min")
    UserFactory(email="root@example.com", is_staff=True, is_superuser=True)

    tries = [
        _sign_in(client, "root@example.com", "guess", path="/admin/login/").status_code
        for _ in range(6)
    ]

    assert tries == [200] * 5 + [429]
    assert _sign_in(client, "root@example.com", PASSWORD, path="/admin/login/").status_code == 429


def test_forms_are_limited_per_signed_in_user(client, rate_limits):
    rate_limits(write="2/min")
    member, other = MembershipFactory(role=Role.BUYER), MembershipFactory(role=Role.BUYER)
    offer = OfferFactory()

    def reserve(user):
        client.force_login(user)
        form = {"gpus": "7", "hours": "-1"}  # refused by the form: counted all the same
        return client.post(f"/offers/{offer.pk}/reserve/", form, REMOTE_ADDR=CLIENT)

    assert [reserve(member.user).status_code for _ in range(2)] == [200, 200]
    refused = reserve(member.user)
    assert refused.status_code == 429 and refused["Retry-After"] == "90"
    assert "Too many requests" in refused.content.decode()
    assert reserve(other.user).status_code == 200  # same address, another user


def test_reserving_from_the_page_counts_against_reserve(client, rate_limits):
    rate_limits(reserve="1/min")
    member = MembershipFactory(role=Role.BUYER)
    offer = OfferFactory(available=5)
    client.force_login(member.user)

    def reserve():
        return client.post(f"/offers/{offer.pk}/reserve/", {"gpus": "1", "hours": "1"})

    assert [reserve().status_code, reserve().status_code] == [302, 429]
    assert Reservation.objects.filter(org=member.org).count() == 1


def test_forms_sent_without_signing_in_are_limited_per_address(client, rate_limits):
    rate_limits(write="2/min")

    logouts = [client.post("/logout/", REMOTE_ADDR=CLIENT).status_code for _ in range(3)]

    assert logouts == [302, 302, 429]
    assert client.post("/logout/", REMOTE_ADDR="198.51.100.2").status_code == 302


def test_the_offers_search_page_is_limited_and_plain_pages_are_not(client, rate_limits):
    rate_limits(search="2/min", write="1/min", read="1/min")

    searches = [client.get("/offers/", {"q": "gpu=H100"}).status_code for _ in range(3)]

    assert searches == [200, 200, 429]
    assert [client.get("/").status_code for _ in range(3)] == [200, 200, 200]
