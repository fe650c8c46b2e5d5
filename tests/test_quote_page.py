"""The buyer's quote page (/quote/): ask, see the plans all-in, reserve one (issue 16)."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
import time_machine

from accounts.models import Role
from billing.models import Budget
from marketplace.models import GpuModel, Offer, Quote, Reservation
from tests.factories import MembershipFactory, OfferFactory, ProviderFactory, make_org_with_key

pytestmark = pytest.mark.django_db
NOW = datetime(2031, 3, 4, 12, 0, tzinfo=UTC)
CENT = Decimal("0.01")


def h100x8(provider, sku: str, price: str, **fields) -> Offer:
    return OfferFactory(
        provider=provider,
        sku=sku,
        gpu=GpuModel.objects.get(name="H100", memory_gb=80),
        gpu_count=8,
        price_per_hour=Decimal(price),
        price_per_gpu_hour=Decimal(price) / 8,
        **fields,
    )


def by_hand(*, price, hours, boot_seconds, disk_rate, disk_gb, egress_rate, egress_gb) -> dict:
    """One instance's all-in cost, each part rounded half up to cents (docs/billing.md).
    The disk rates below are chosen so that the hourly disk price is exact."""
    price, hours = Decimal(price), Decimal(hours)
    parts = {
        "compute": price * hours,
        "boot": price * boot_seconds / 3600,
        "disk": Decimal(disk_rate) * Decimal(disk_gb) / 730 * hours,
        "egress": Decimal(egress_rate) * Decimal(egress_gb),
    }
    cents = {name: value.quantize(CENT, rounding=ROUND_HALF_UP) for name, value in parts.items()}
    return cents | {"total": sum(cents.values(), Decimal(0))}


@pytest.fixture
def at_noon():
    """Time stands at NOW from before the member signs in (a session has its own expiry)."""
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def member(client):
    def sign_in(role: str = Role.BUYER, org=None):
        membership = MembershipFactory(role=role, **({"org": org} if org else {}))
        client.force_login(membership.user)
        return membership

    return sign_in


@pytest.fixture
def two_clouds():
    """8×H100 from two reservable providers with different rates: `fast` at the documented
    defaults, `slow` dearer to boot, store and send from, but cheaper per hour."""
    fast = ProviderFactory(slug="fastcloud", name="Fast Cloud")
    slow = ProviderFactory(
        slug="slowcloud",
        name="Slow Cloud",
        disk_price_per_gb_month=Decimal("0.365"),
        egress_price_per_gb=Decimal("0.09"),
        boot_seconds=600,
    )
    return {
        "fast": h100x8(fast, "fast.h100x8", "24", available=2),
        "slow": h100x8(slow, "slow.h100x8", "20", available=1),
    }


ASK = {
    "gpu": "H100:8",
    "hours": "10",
    "filter": "",
    "disk_gb": "73",
    "egress_gb": "40",
    "pricing": ["on_demand"],
    "objective": "total_cost",
    "max_total": "",
}


def ask(client, body: dict = ASK) -> str:
    """Send the form, follow its redirect to the answer: the page's HTML."""
    response = client.post("/quote/", body)
    assert response.status_code == 302, response.content.decode()
    assert response["Location"].startswith("/quote/?answer=")
    return client.get(response["Location"]).content.decode()


def plan_totals(page: str) -> list[str]:
    return re.findall(r'class="plan-total">([0-9.]+) USD<', page)


def test_it_shows_the_form_with_help_and_examples(client, member):
    member()

    response = client.get("/quote/")

    page = response.content.decode()
    assert response.status_code == 200
    for name in ("gpu", "hours", "filter", "disk_gb", "egress_gb", "max_total", "allow_split"):
        assert f'for="id_{name}"' in page, name
    assert "H100:8" in page and "A100,H100:80GB..:4..8" in page
    assert "<legend>Pricing models</legend>" in page
    assert 'value="on_demand"' in page and 'value="cost_per_work"' in page
    assert 'name="csrfmiddlewaretoken"' in page
    assert 'href="/quote/">Get a quote</a>' in page  # in the navigation
    assert 'id="plans"' not in page


def test_it_ranks_the_plans_with_totals_that_add_up_by_hand(at_noon, client, member, two_clouds):
    member()

    page = ask(client)

    # 20/h × 10 h, 600 s boot, 0.365/GB-month × 73 GB, 0.09/GB × 40 GB
    job = {"hours": 10, "disk_gb": 73, "egress_gb": 40}
    slow = by_hand(price="20", boot_seconds=600, disk_rate="0.365", egress_rate="0.09", **job)
    fast = by_hand(price="24", boot_seconds=120, disk_rate="0.10", egress_rate="0.01", **job)
    # 0.365 × 73 / 730 × 10 = 0.365: half up, 0.37
    assert [slow[part] for part in ("compute", "boot", "disk", "egress", "total")] == [
        Decimal(v) for v in ("200.00", "3.33", "0.37", "3.60", "207.30")
    ]
    assert fast["total"] == Decimal("241.30")
    assert plan_totals(page) == [str(slow["total"]), str(fast["total"])]
    # each plan's legs and breakdown: provider, offer, GPUs, price, each part, the total
    first = page[page.index('id="plan-1"') : page.index('id="plan-2"')]
    cells = re.findall(r'<td class="num">([^<]*)</td>', first)
    assert cells[:7] == ["8", "20.000000", "200.00", "3.33", "0.37", "3.60", "207.30"]
    assert "slowcloud" in first and "slow.h100x8" in first and f"#{two_clouds['slow'].pk}" in first
    # the price lock, in UTC for readers without JavaScript, and the countdown's script
    assert "Prices held until" in page
    assert '<time datetime="2031-03-04T12:02:00+00:00">2031-03-04 12:02:00 UTC</time>' in page
    assert 'data-seconds-left="120"' in page
    assert "/static/js/quote_countdown.js" in page
    # and the quotes are the organization's, held until then
    assert Quote.objects.filter(expires_at=NOW + timedelta(seconds=120)).count() == 2


def test_a_reload_shows_the_same_quotes_and_then_that_their_lock_expired(
    at_noon, client, member, two_clouds
):
    member()
    answer = client.post("/quote/", ASK)["Location"]
    first = client.get(answer).content.decode()

    at_noon.move_to(NOW + timedelta(seconds=45))
    again = client.get(answer).content.decode()
    at_noon.move_to(NOW + timedelta(seconds=120))
    expired = client.get(answer).content.decode()

    assert quote_ids(again) == quote_ids(first) and len(quote_ids(first)) == 2
    assert Quote.objects.count() == 2  # a reload asks nothing again
    assert 'data-seconds-left="75"' in again and "expired" not in again
    assert 'data-seconds-left="0"' in expired
    assert "<strong>expired</strong>, ask for a new quote" in expired
    # and the form still holds the request, to ask again
    assert 'value="H100:8"' in expired and 'value="73"' in expired


def test_an_answer_from_another_session_is_not_shown(client, member, two_clouds):
    member()
    answer = client.post("/quote/", ASK)["Location"]
    client.logout()
    member()

    page = client.get(answer).content.decode()

    assert "That answer is no longer here: ask again." in page
    assert 'id="plans"' not in page


def test_it_shows_offers_that_cannot_be_reserved_here_beside_the_plans(client, member, two_clouds):
    listed = ProviderFactory(slug="listedcloud", name="Listed", launcher="")
    h100x8(listed, "listed.h100x8", "12")
    member()

    page = ask(client)

    elsewhere = page[page.index('id="elsewhere"') :]
    assert "listedcloud" in elsewhere and "listed.h100x8" in elsewhere
    assert "12.000000 USD" in elsewhere
    assert "not_reservable" in elsewhere
    assert "cannot be launched from here" in elsewhere
    assert len(plan_totals(page)) == 2  # and it is no plan


def test_it_says_so_when_nothing_fits(client, member):
    member()

    page = ask(client)

    assert 'id="no-plans"' in page
    assert not Quote.objects.exists()


def api_error(api_client, body: dict) -> dict:
    buyer = make_org_with_key(role=Role.BUYER)
    response = api_client.post("/api/v1/quotes/", body, format="json", **buyer.headers)
    assert response.status_code == 400
    return response.json()["error"]


@pytest.mark.parametrize(
    ("field", "text"),
    [("gpu", "H100:eight"), ("gpu", "H100:8 cpu="), ("filter", "colour=red"), ("filter", "gpus>")],
)
def test_it_shows_a_bad_spec_or_filter_at_its_position_as_the_api_does(
    client, api_client, member, field, text
):
    member()
    ask = ASK | {field: text}

    response = client.post("/quote/", ask)

    page = html.unescape(response.content.decode())
    api = api_error(api_client, {"gpu": ask["gpu"], "hours": 10, "filter": ask["filter"]})
    assert response.status_code == 400
    error = page[page.index(f'id="id_{field}_error"') :]
    error = error[: error.index("</div>")]
    assert api["message"] in error
    # the text, and a caret under the position the API gives
    lines = re.search(r'<pre class="caret"[^>]*>(.*)\n(.*)</pre>', error).groups()
    assert lines[0] == f"{field}: {text}"
    assert lines[1] == " " * (len(field) + 2 + api["position"]) + "^"
    assert not Quote.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "api_value"),
    [
        ("hours", "-1", -1),
        ("hours", "", None),  # left out
        ("disk_gb", "lots", "lots"),
        ("max_total", "-5", -5),
        ("gpu", "", None),
        ("pricing", ["on_demand", "barter"], ["on_demand", "barter"]),
        ("objective", "fastest", "fastest"),
    ],
)
def test_it_refuses_bad_values_at_their_field_with_the_apis_messages(
    client, api_client, member, field, value, api_value
):
    member()
    body = {"gpu": "H100:8", "hours": 10, field: api_value}
    body = {name: v for name, v in body.items() if v is not None}

    response = client.post("/quote/", ASK | {field: value})

    page = html.unescape(response.content.decode())
    api = api_error(api_client, body)
    assert response.status_code == 400
    messages = api["fields"][field]
    message = next(iter(messages.values()))[0] if isinstance(messages, dict) else messages[0]
    error = page[page.index(f'id="id_{field}_error"') :]
    assert message in error[: error.index("</")]
    assert not Quote.objects.exists()


def test_a_refused_form_keeps_what_was_typed(client, member):
    member()

    page = client.post("/quote/", ASK | {"hours": "-1", "filter": " region=eu-*"}).content
    page = page.decode()

    assert 'value=" region=eu-*"' in page
    assert 'value="-1"' in page


# --- reserving ----------------------------------------------------------------------------


def quote_ids(page: str) -> list[str]:
    return re.findall(r'action="/quote/([0-9a-f-]{36})/reserve/"', page)


def reserve_key(page: str) -> str:
    return re.search(r'name="key" value="([0-9a-f-]{36})"', page).group(1)


def test_a_buyer_reserves_a_plan_at_its_locked_price(client, member, two_clouds):
    buyer = member()
    page = ask(client)
    cheapest = quote_ids(page)[0]

    response = client.post(f"/quote/{cheapest}/reserve/", {"key": reserve_key(page)})

    (reservation,) = Reservation.objects.filter(org=buyer.org)
    assert response.status_code == 302
    assert response["Location"] == f"/reservations/{reservation.pk}/"
    assert str(reservation.quote_id) == cheapest
    assert reservation.offer == two_clouds["slow"]
    assert (reservation.gpus, reservation.hours) == (8, Decimal(10))
    assert reservation.price_per_hour == Decimal("20")
    assert reservation.quoted_total == Decimal("207.30")
    assert Offer.objects.get(pk=two_clouds["slow"].pk).available == 0


def test_the_same_reserve_form_sent_twice_reserves_once(client, member, two_clouds):
    buyer = member()
    page = ask(client)
    form = {"key": reserve_key(page)}
    cheapest = quote_ids(page)[0]

    first = client.post(f"/quote/{cheapest}/reserve/", form)
    second = client.post(f"/quote/{cheapest}/reserve/", form)

    (reservation,) = Reservation.objects.filter(org=buyer.org)
    assert first["Location"] == second["Location"] == f"/reservations/{reservation.pk}/"


def test_a_plan_is_reserved_with_the_buyers_failover_limit_and_relaunch(client, member, two_clouds):
    buyer = member()
    page = ask(client)
    form = {"key": reserve_key(page), "auto_relaunch": "on", "max_price_per_hour": "22.5"}

    client.post(f"/quote/{quote_ids(page)[0]}/reserve/", form)

    (reservation,) = Reservation.objects.filter(org=buyer.org)
    assert reservation.auto_relaunch is True
    assert reservation.max_price_per_hour == Decimal("22.5")


@pytest.mark.parametrize(
    ("options", "says", "status"),
    [
        ({"max_price_per_hour": "abc"}, "Price limit per hour for failover: Enter a number.", 400),
        ({"max_price_per_hour": "-1"}, "greater than or equal to 0", 400),
        ({"key": "not-a-key"}, "Enter a valid UUID.", 400),
        # below the locked 20.00/h: the service's refusal, as the API gives it
        ({"max_price_per_hour": "19"}, "above your max_price_per_hour of 19", 409),
    ],
)
def test_reserve_options_that_cannot_be_used_are_refused_on_the_page(
    client, member, two_clouds, options, says, status
):
    buyer = member()
    page = ask(client)

    response = client.post(
        f"/quote/{quote_ids(page)[0]}/reserve/", {"key": reserve_key(page), **options}
    )

    assert response.status_code == status
    assert says in response.content.decode()
    assert not Reservation.objects.filter(org=buyer.org).exists()


@pytest.fixture
def split_offers():
    """Two single 8×H100 instances in one region: 16 GPUs only as a split plan."""
    cloud = ProviderFactory(slug="splitcloud", name="Split Cloud")
    return [
        h100x8(cloud, "a.h100x8", "24", available=1, region="r1"),
        h100x8(cloud, "b.h100x8", "26", available=1, region="r1"),
    ]


SPLIT_ASK = {"gpu": "H100:16", "hours": "1", "pricing": ["on_demand"], "allow_split": "on"}


def test_a_split_plan_reserves_every_leg_and_lands_on_the_reservations(
    client, member, split_offers
):
    buyer = member()
    page = ask(client, SPLIT_ASK)
    (plan,) = quote_ids(page)
    assert "2 legs, all or none" in page
    # 50/h together × (1 h + 120 s boot) = 50 + 1.67
    assert plan_totals(page) == ["51.67"]

    response = client.post(f"/quote/{plan}/reserve/", {"key": reserve_key(page)})

    assert (response.status_code, response["Location"]) == (302, "/reservations/")
    reservations = Reservation.objects.filter(org=buyer.org).order_by("price_per_hour")
    assert [(r.offer_id, r.gpus, str(r.quote_id)) for r in reservations] == [
        (split_offers[0].pk, 8, plan),
        (split_offers[1].pk, 8, plan),
    ]
    assert "Reserved 2 reservations, one per leg." in client.get("/reservations/").content.decode()


def test_when_a_legs_capacity_is_gone_nothing_is_reserved(client, member, split_offers):
    buyer = member()
    page = ask(client, SPLIT_ASK)
    (plan,) = quote_ids(page)
    Offer.objects.filter(pk=split_offers[1].pk).update(available=0)  # sold meanwhile

    response = client.post(f"/quote/{plan}/reserve/", {"key": reserve_key(page)})

    page = response.content.decode()
    assert response.status_code == 409
    assert "That capacity is no longer available." in page
    assert not Reservation.objects.filter(org=buyer.org).exists()
    assert Offer.objects.get(pk=split_offers[0].pk).available == 1  # the first leg's too
    # the form is filled in with the quote's request, to ask again
    assert 'value="H100:16"' in page and 'value="1"' in page
    assert re.search(r'<input type="checkbox" name="allow_split"[^>]* checked', page)


def no_funds(org, settings):
    settings.ORG_CREDIT_LIMIT = Decimal(0)


def a_one_cent_hard_stop(org, settings):
    Budget.objects.create(org=org, monthly_limit=CENT, hard_stop=True)


@pytest.mark.parametrize(
    ("refusal", "status", "says"),
    [
        (no_funds, 402, "the organization has 0.00 usd available"),
        (a_one_cent_hard_stop, 409, "budget"),
    ],
)
def test_it_refuses_what_the_organization_may_not_spend(
    client, member, two_clouds, settings, refusal, status, says
):
    buyer = member()
    page = ask(client)
    refusal(buyer.org, settings)

    response = client.post(f"/quote/{quote_ids(page)[0]}/reserve/", {"key": reserve_key(page)})

    page = response.content.decode()
    assert response.status_code == status
    messages = page[page.index('<ul class="messages">') : page.index("</ul>")]
    assert says in messages.lower()
    assert not Reservation.objects.filter(org=buyer.org).exists()
    assert Offer.objects.get(pk=two_clouds["slow"].pk).available == 1
    assert ('id="funds-help"' in page) is (refusal is no_funds)


@pytest.mark.parametrize(
    ("role", "says"),
    [
        (Role.OWNER, 'on the <a href="/invoices/payment/">payment page</a>'),
        (Role.BUYER, "A member with the owner, admin or finance role can add a card"),
    ],
)
def test_a_refusal_for_want_of_funds_says_where_to_pay_in(
    client, member, two_clouds, settings, role, says
):
    buyer = member(role)
    page = ask(client)
    no_funds(buyer.org, settings)

    response = client.post(f"/quote/{quote_ids(page)[0]}/reserve/", {"key": reserve_key(page)})

    assert response.status_code == 402
    assert says in response.content.decode()


def test_it_refuses_a_quote_past_its_price_lock(at_noon, client, member, two_clouds):
    buyer = member()
    page = ask(client)

    at_noon.move_to(NOW + timedelta(seconds=121))
    response = client.post(f"/quote/{quote_ids(page)[0]}/reserve/", {"key": reserve_key(page)})

    assert response.status_code == 409
    assert "The quote&#x27;s price lock has expired" in response.content.decode()
    assert not Reservation.objects.filter(org=buyer.org).exists()


def test_another_organizations_quote_cannot_be_reserved(client, member, two_clouds):
    member()
    page = ask(client)
    intruder = member()

    response = client.post(f"/quote/{quote_ids(page)[0]}/reserve/", {})

    assert response.status_code == 404
    assert not Reservation.objects.filter(org=intruder.org).exists()
    assert not Reservation.objects.exists()


@pytest.mark.parametrize("role", [Role.FINANCE, Role.PROVIDER])
def test_roles_that_may_not_reserve_may_neither_ask_nor_reserve(client, member, two_clouds, role):
    buyer = member()
    page = ask(client)
    member(role=role, org=buyer.org)

    asked = client.post("/quote/", ASK)
    reserved = client.post(f"/quote/{quote_ids(page)[0]}/reserve/", {"key": reserve_key(page)})

    assert (client.get("/quote/").status_code, asked.status_code) == (403, 403)
    assert reserved.status_code == 403
    assert Quote.objects.count() == 2  # the buyer's only
    assert not Reservation.objects.exists()
    assert 'href="/quote/"' not in client.get("/").content.decode()


def test_asking_counts_against_the_reserve_limit(client, member, two_clouds, rate_limits):
    rate_limits(reserve="1/min")
    member()

    assert client.post("/quote/", ASK).status_code == 302
    refused = client.post("/quote/", ASK)

    assert refused.status_code == 429
    assert "Retry-After" in refused


@pytest.mark.parametrize("offers", [5, 15])
def test_the_page_reads_a_fixed_number_of_queries(
    client, member, django_assert_max_num_queries, offers
):
    cloud = ProviderFactory(slug="manycloud", name="Many")
    listed = ProviderFactory(slug="listedcloud", name="Listed", launcher="")
    for n in range(offers):
        h100x8(cloud, f"many-{n}", str(20 + n))
        h100x8(listed, f"listed-{n}", str(10 + n))
    member()

    with django_assert_max_num_queries(ASKING_QUERIES):
        answer = client.post("/quote/", ASK)["Location"]
    with django_assert_max_num_queries(ANSWER_QUERIES):
        page = client.get(answer).content.decode()

    assert len(plan_totals(page)) == 5


# Asking: the member and their organization, the engine's reads (its offers in batches: one
# more for the larger catalog), the quotes stored, the session. The answer: the member, the
# session, the quotes, the funds notice. Neither grows with the plans or the offers shown.
ASKING_QUERIES = 20
ANSWER_QUERIES = 5


def test_sign_up_lands_on_the_quote_page(client):
    response = client.post(
        "/signup/",
        {"email": "new@example.com", "password": "a-long-password-9", "organization": "New"},
    )

    assert (response.status_code, response["Location"]) == (302, "/quote/")
    assert client.get("/quote/").status_code == 200


def test_the_home_page_links_the_quote_page(client):
    assert 'href="/quote/" id="get-a-quote"' in client.get("/").content.decode()
