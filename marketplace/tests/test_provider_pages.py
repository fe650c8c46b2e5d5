"""The provider pages: register a provider, its offers (inline edit, withdraw, picker), the
webhook, and the launch requests on /provider/."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from marketplace.models import LaunchRequest, Offer, OfferStatus, Provider
from marketplace.services.providers import provider_register
from marketplace.tests.provider_fixtures import (
    make_listed_offer,
    make_listed_provider,
    reserve,
    reserve_launching,
)
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

OFFERS = "/provider/offers/"
API = "/api/v1/provider/offers/"


def provider_member(seller):
    return MembershipFactory(org=seller.keyed.org, role="provider").user


# --- register -----------------------------------------------------------------------------


def test_an_owner_registers_a_provider_and_sees_its_secret_once(client):
    owner = MembershipFactory(role="owner")
    client.force_login(owner.user)

    response = client.post(
        "/provider/register/",
        {"name": "Acme GPUs", "slug": "acme-gpus", "webhook_url": "https://hooks.example.com/x"},
    )

    assert response.status_code == 200
    provider = Provider.objects.get(slug="acme-gpus")
    assert (provider.org, provider.name, provider.kind, provider.launcher) == (
        owner.org, "Acme GPUs", "listed", "listed"
    )  # fmt: skip
    assert provider.webhook_url == "https://hooks.example.com/x"
    html = response.content.decode()
    assert provider.webhook_secret in html
    assert response["Cache-Control"] == "no-store"
    assert provider.webhook_secret not in client.get("/provider/webhook/").content.decode()


def test_a_taken_slug_is_refused_on_the_form_as_the_api_refuses_it(client, api_client):
    make_listed_provider(slug="acme-gpus")
    owner = MembershipFactory(role="owner")
    client.force_login(owner.user)

    response = client.post("/provider/register/", {"name": "Mine", "slug": "Acme_GPUs"})

    assert response.status_code == 409
    assert response.context["form"].errors["slug"] == ["The provider slug 'Acme_GPUs' is taken."]
    assert not Provider.objects.filter(org=owner.org).exists()


def test_a_webhook_url_the_api_refuses_is_refused_on_the_form(client, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    owner = MembershipFactory(role="owner")
    client.force_login(owner.user)

    bad = client.post("/provider/register/", {"name": "A", "slug": "a-gpus", "webhook_url": "x"})
    private = client.post(
        "/provider/register/",
        {"name": "A", "slug": "a-gpus", "webhook_url": "https://127.0.0.1/hook"},
    )

    assert bad.status_code == 400
    assert bad.context["form"].errors["webhook_url"] == ["Enter a valid URL."]
    assert private.status_code == 400
    assert private.context["form"].errors["webhook_url"][0].startswith("webhook_url ")
    assert not Provider.objects.filter(org=owner.org).exists()


def test_a_provider_member_may_not_register_one(client):
    seller = make_listed_provider()
    client.force_login(provider_member(seller))
    response = client.post("/provider/register/", {"name": "Two", "slug": "two-gpus"})
    assert response.status_code == 403
    assert not Provider.objects.filter(slug="two-gpus").exists()


# --- offers -------------------------------------------------------------------------------


def test_the_offers_page_lists_the_providers_offers_only(client):
    seller = make_listed_provider(slug="acme-gpus")
    mine = make_listed_offer(seller.provider, sku="acme.h100x1")
    gone = make_listed_offer(seller.provider, sku="acme.old", status=OfferStatus.WITHDRAWN)
    other = make_listed_provider(slug="other-gpus")
    make_listed_offer(other.provider, sku="other.sku")
    client.force_login(provider_member(seller))

    listed = client.get(OFFERS)
    withdrawn = client.get(f"{OFFERS}?status=withdrawn")

    assert listed.status_code == 200
    assert [o.pk for o, _, _ in listed.context["rows"]] == [mine.pk]
    assert "other.sku" not in listed.content.decode()
    assert [o.pk for o, _, _ in withdrawn.context["rows"]] == [gone.pk]
    assert 'href="/org/keys/"' not in listed.content.decode()  # a provider cannot mint keys


def test_an_owner_is_linked_to_the_api_keys_page(client):
    seller = make_listed_provider()
    client.force_login(seller.keyed.user)
    assert 'href="/org/keys/"' in client.get(OFFERS).content.decode()


def test_an_inline_edit_changes_price_and_capacity_as_the_api_patch_does(client, api_client):
    # given two equal offers, one edited on the page, the other through the API
    seller = make_listed_provider()
    on_page = make_listed_offer(seller.provider, sku="page", price_per_hour=Decimal(2))
    by_api = make_listed_offer(seller.provider, sku="api", price_per_hour=Decimal(2))
    client.force_login(provider_member(seller))

    response = client.post(
        f"{OFFERS}{on_page.pk}/update/", {"price_per_hour": "2.75", "available": "6"}
    )
    api_client.patch(
        f"{API}{by_api.pk}/", {"price_per_hour": "2.75", "available": 6}, format="json",
        **seller.headers,
    )  # fmt: skip

    assert response.status_code == 302
    assert response["Location"] == f"{OFFERS}?provider=acme-gpus"
    on_page.refresh_from_db()
    by_api.refresh_from_db()
    assert (on_page.price_per_hour, on_page.price_per_gpu_hour, on_page.available) == (
        Decimal("2.750000"), Decimal("2.750000"), 6
    )  # fmt: skip
    assert (by_api.price_per_hour, by_api.price_per_gpu_hour, by_api.available) == (
        on_page.price_per_hour, on_page.price_per_gpu_hour, on_page.available
    )  # fmt: skip
    assert [p.price_per_hour for p in on_page.price_history.order_by("id")] == [
        Decimal(2), Decimal("2.75")
    ]  # fmt: skip


def test_the_capacity_shown_is_the_providers_so_saving_it_unchanged_changes_nothing(client):
    # given an offer of 4 with one unit held by a reservation the provider has not seen
    seller = make_listed_provider()
    offer = make_listed_offer(seller.provider, gpu_count=1, available=4)
    reserve(offer)
    offer.refresh_from_db()
    assert offer.available == 3
    client.force_login(provider_member(seller))

    # when the page is shown, it shows the provider's count: 4 (1 held)
    response = client.get(OFFERS)
    ((shown, item, held),) = response.context["rows"]
    assert (item["available"], held) == (4, 1)
    assert 'value="4"' in response.content.decode()

    # and saving it as shown keeps our count
    client.post(f"{OFFERS}{offer.pk}/update/", {"price_per_hour": "2.0", "available": "4"})
    offer.refresh_from_db()
    assert offer.available == 3


def test_a_bad_inline_value_shows_the_page_again_with_the_apis_message(client, api_client):
    seller = make_listed_provider()
    offer = make_listed_offer(seller.provider)
    client.force_login(provider_member(seller))

    response = client.post(f"{OFFERS}{offer.pk}/update/", {"price_per_hour": "0", "available": "x"})

    assert response.status_code == 400
    api = api_client.patch(
        f"{API}{offer.pk}/", {"price_per_hour": "0", "available": "x"}, format="json",
        **seller.headers,
    ).json()["error"]  # fmt: skip
    expected = " ".join(f"{f}: {' '.join(m)}" for f, m in api["fields"].items())
    assert response.context["row_error"]["message"] == expected
    assert "price_per_hour: Must be positive (more than 0)." in expected
    html = response.content.decode()
    assert 'value="x"' in html and 'aria-invalid="true"' in html
    offer.refresh_from_db()
    assert offer.price_per_hour == Decimal(2)


def test_withdraw_takes_the_offer_out_of_the_catalog(client):
    seller = make_listed_provider()
    offer = make_listed_offer(seller.provider)
    client.force_login(provider_member(seller))
    assert "data-confirm=" in client.get(OFFERS).content.decode()

    response = client.post(f"{OFFERS}{offer.pk}/withdraw/")

    assert response.status_code == 302
    offer.refresh_from_db()
    assert (offer.status, offer.available) == (OfferStatus.WITHDRAWN, 0)


def test_another_organizations_offers_are_not_found(client):
    seller = make_listed_provider(slug="acme-gpus")
    offer = make_listed_offer(seller.provider)
    stranger = make_listed_provider(slug="other-gpus")
    client.force_login(stranger.keyed.user)

    edit = client.post(f"{OFFERS}{offer.pk}/update/", {"price_per_hour": "0.01", "available": "9"})
    withdraw = client.post(f"{OFFERS}{offer.pk}/withdraw/")
    page = client.get(f"{OFFERS}?provider=acme-gpus")
    export = client.get("/provider/offers/export.csv?provider=acme-gpus")
    webhook = client.get("/provider/webhook/?provider=acme-gpus")

    assert [r.status_code for r in (edit, withdraw, page, export, webhook)] == [404] * 5
    offer.refresh_from_db()
    assert (offer.price_per_hour, offer.status) == (Decimal(2), OfferStatus.ACTIVE)


def test_an_organization_with_several_providers_picks_one(client):
    seller = make_listed_provider(slug="acme-gpus")
    second = provider_register(org=seller.keyed.org, name="Acme Two", slug="acme-two")
    make_listed_offer(seller.provider, sku="first.sku")
    make_listed_offer(second, sku="second.sku")
    client.force_login(provider_member(seller))

    default = client.get(OFFERS)
    picked = client.get(f"{OFFERS}?provider=acme-two")

    assert default.context["provider"] == seller.provider
    assert 'id="provider-picker"' in default.content.decode()
    assert [o.sku for o, _, _ in picked.context["rows"]] == ["second.sku"]


@pytest.mark.parametrize("count", [2, 30])
def test_the_offers_page_reads_a_fixed_number_of_queries(
    client, django_assert_max_num_queries, count
):
    seller = make_listed_provider()
    for n in range(count):
        make_listed_offer(seller.provider, sku=f"sku-{n}")
    reserve(Offer.objects.filter(provider=seller.provider).first())
    client.force_login(provider_member(seller))

    # session, user, membership, providers, offers page, held units, funds notice: 7
    with django_assert_max_num_queries(7):
        response = client.get(OFFERS)

    assert len(response.context["rows"]) == count


# --- webhook ------------------------------------------------------------------------------


def test_the_webhook_url_is_changed_through_the_apis_checks(client, settings):
    settings.WEBHOOK_ALLOW_HTTP = False
    seller = make_listed_provider()
    client.force_login(provider_member(seller))

    saved = client.post("/provider/webhook/", {"webhook_url": "https://hooks.example.com/new"})
    refused = client.post("/provider/webhook/", {"webhook_url": "http://hooks.example.com/x"})

    assert saved.status_code == 302
    assert refused.status_code == 400
    assert "https" in refused.context["form"].errors["webhook_url"][0]
    seller.provider.refresh_from_db()
    assert seller.provider.webhook_url == "https://hooks.example.com/new"


def test_rotating_the_secret_shows_the_new_one_once_with_the_overlap(client):
    seller = make_listed_provider()
    old = seller.provider.webhook_secret
    client.force_login(provider_member(seller))
    before = timezone.now()

    response = client.post("/provider/webhook/rotate/", {"overlap_seconds": "600"})

    assert response.status_code == 200
    seller.provider.refresh_from_db()
    assert seller.provider.webhook_secret != old
    assert seller.provider.previous_webhook_secret == old
    expires = seller.provider.previous_webhook_secret_expires_at
    assert before + timedelta(seconds=600) <= expires <= timezone.now() + timedelta(seconds=600)
    assert seller.provider.webhook_secret in response.content.decode()
    assert old not in response.content.decode()


def test_an_overlap_beyond_a_day_is_refused(client):
    seller = make_listed_provider()
    old = seller.provider.webhook_secret
    client.force_login(provider_member(seller))
    response = client.post("/provider/webhook/rotate/", {"overlap_seconds": "86401"})
    assert response.status_code == 400
    assert response.context["rotate_form"].errors["overlap_seconds"]
    seller.provider.refresh_from_db()
    assert seller.provider.webhook_secret == old


# --- incoming work --------------------------------------------------------------------------


def test_the_provider_page_shows_launch_requests_with_a_short_reason(client):
    seller = make_listed_provider()
    reservation = reserve_launching(make_listed_offer(seller.provider))
    request = LaunchRequest.objects.create(
        reservation=reservation, provider=seller.provider, kind="launch", key="k-1",
        payload={"secret_note": "payload-not-shown"}, delivery_attempts=3,
        last_error="HTTP 502 from hooks.example.com " + "x" * 3000,
        answer_by=timezone.now() + timedelta(minutes=5),
    )  # fmt: skip
    other = make_listed_provider(slug="other-gpus")
    LaunchRequest.objects.create(
        reservation=reserve_launching(make_listed_offer(other.provider, sku="o")),
        provider=other.provider, kind="launch", key="k-2", answer_by=timezone.now(),
    )  # fmt: skip
    client.force_login(provider_member(seller))

    response = client.get("/provider/")

    rows = list(response.context["launch_requests"])
    assert [r.pk for r in rows] == [request.pk]
    assert rows[0].reason == request.last_error[:160]
    html = response.content.decode()
    assert "HTTP 502 from hooks.example.com" in html and "x" * 161 not in html
    assert "payload-not-shown" not in html
    assert 'href="/provider/statements/"' in html
