"""Every API view is limited (common/api/throttles.py): per API key, else per signed-in user,
else per client address, which X-Forwarded-For cannot change unless proxies of ours wrote
it; a refusal is a 429 in the one error format with Retry-After. Time is frozen at the
start of a minute, so the waits are exact."""

from __future__ import annotations

import pytest

from tests.clock import frozen_at_t0
from tests.factories import UserFactory, make_org_with_key

pytestmark = pytest.mark.django_db

CLIENT = "198.51.100.1"
PROXY = "10.0.0.2"


@pytest.fixture(autouse=True)
def _frozen():
    with frozen_at_t0():
        yield


def _bearer(keyed) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {keyed.secret}"}


def _statuses(send, times: int) -> list[int]:
    return [send().status_code for _ in range(times)]


def test_an_anonymous_catalog_reader_gets_429_with_retry_after_in_the_error_format(
    api_client, rate_limits
):
    rate_limits(search="3/min")
    offers = lambda: api_client.get("/api/v1/offers/", REMOTE_ADDR=CLIENT)  # noqa: E731

    assert _statuses(offers, 3) == [200, 200, 200]
    refused = offers()

    # 3 at the start of a minute weigh 2 (room for one more) a third into the next
    assert refused.status_code == 429
    assert refused["Retry-After"] == "80"
    assert refused.json() == {
        "error": {
            "code": "throttled",
            "message": "Too many requests; try again in 80 seconds.",
            "retry_after": 80,
        }
    }
    assert api_client.get("/api/v1/offers/", REMOTE_ADDR="198.51.100.2").status_code == 200


def test_x_forwarded_for_does_not_escape_the_limit_when_no_proxy_is_declared(
    api_client, rate_limits, settings
):
    rate_limits(search="3/min")
    settings.NUM_PROXIES = 0
    for _ in range(3):
        api_client.get("/api/v1/gpus/", REMOTE_ADDR=CLIENT)

    spoofed = [
        api_client.get(
            "/api/v1/gpus/", REMOTE_ADDR=CLIENT, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}"
        ).status_code
        for n in range(5)
    ]

    assert spoofed == [429] * 5


def test_behind_one_proxy_the_address_it_saw_is_limited(api_client, rate_limits, settings):
    rate_limits(search="3/min")
    settings.NUM_PROXIES = 1

    def offers(forwarded: str):
        return api_client.get(
            "/api/v1/offers/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded
        ).status_code

    # the client writes what it likes on the left; the proxy appends what it saw
    assert [offers(f"192.0.2.{n}, 203.0.113.7") for n in range(4)] == [200, 200, 200, 429]
    assert offers("203.0.113.7") == 429
    assert offers("203.0.113.8") == 200  # another client behind the same proxy


def test_api_writes_are_limited_per_key(api_client, rate_limits):
    rate_limits(write="3/min")
    buyer = make_org_with_key(role="buyer")
    other_key = make_org_with_key(role="buyer", org=buyer.org)

    def write(keyed):
        return api_client.post("/api/v1/api-keys/", {}, format="json", **_bearer(keyed))

    assert [write(buyer).status_code for _ in range(4)] == [400, 400, 400, 429]
    assert write(buyer).json()["error"]["code"] == "throttled"
    assert write(other_key).status_code == 400  # a key of its own, a budget of its own
    # reads are another scope
    assert api_client.get("/api/v1/reservations/", **_bearer(buyer)).status_code == 200


def test_signed_in_users_are_limited_each_on_their_own(api_client, rate_limits):
    rate_limits(write="2/min")
    first, second = UserFactory(), UserFactory()

    def create_org(user):
        api_client.force_authenticate(user)
        return api_client.post(
            "/api/v1/orgs/", {"name": "Acme"}, format="json", REMOTE_ADDR=CLIENT
        ).status_code

    assert [create_org(first) for _ in range(3)] == [201, 201, 429]
    assert create_org(second) == 201  # same address, another user


def test_quotes_and_reservations_also_count_against_reserve(api_client, rate_limits):
    rate_limits(reserve="2/min")
    buyer = make_org_with_key(role="buyer")

    def post(path: str):
        return api_client.post(path, {}, format="json", **_bearer(buyer)).status_code

    assert [post("/api/v1/quotes/"), post("/api/v1/reservations/")] == [400, 400]
    assert [post("/api/v1/quotes/"), post("/api/v1/reservations/")] == [429, 429]
    assert post("/api/v1/api-keys/") == 400  # other writes are not reservations


def test_api_reads_are_limited_apart_from_the_catalog(api_client, rate_limits):
    rate_limits(read="2/min")
    buyer = make_org_with_key(role="buyer")
    reservations = lambda: api_client.get("/api/v1/reservations/", **_bearer(buyer))  # noqa: E731

    assert _statuses(reservations, 3) == [200, 200, 429]
    assert api_client.get("/api/v1/offers/", **_bearer(buyer)).status_code == 200


def test_refused_api_keys_are_limited_per_address(api_client, rate_limits):
    rate_limits(auth="3/15min")
    buyer = make_org_with_key(role="buyer")

    def call(secret: str, address: str = CLIENT):
        return api_client.get(
            "/api/v1/reservations/", HTTP_AUTHORIZATION=f"Bearer {secret}", REMOTE_ADDR=address
        )

    guesses = [call(f"gpm_guess{n}_0000").status_code for n in range(3)]
    refused = call("gpm_guess3_0000")

    assert guesses == [401, 401, 401]
    assert (refused.status_code, refused.json()["error"]["code"]) == (429, "throttled")
    assert refused["Retry-After"] == str(refused.json()["error"]["retry_after"])
    # the address is refused before any key is looked up, a good one too
    assert call(buyer.secret).status_code == 429
    assert call(buyer.secret, address="198.51.100.2").status_code == 200


def test_stripe_webhook_deliveries_are_never_throttled(api_client, rate_limits):
    rate_limits(search="1/min", read="1/min", write="1/min", reserve="1/min", auth="1/min")

    deliveries = [
        api_client.post(
            "/api/v1/stripe/webhook/",
            b"{}",
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE="t=1,v1=forged",
            REMOTE_ADDR=CLIENT,
        )
        for _ in range(5)
    ]

    # refused for their signature, each of them: none for its rate
    assert {r.json()["error"]["code"] for r in deliveries} == {"invalid_signature"}
