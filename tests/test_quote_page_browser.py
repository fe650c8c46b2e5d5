"""The quote page in headless Chromium against the live server: a buyer asks, sees the plans
with the price lock counting down, reloads, reserves, and lands on the reservation; the page
with its answer is accessible (axe-core), fits a phone, and the browser reports nothing failed
or refused (the Content-Security-Policy allows no inline script or style)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from accounts.models import Role
from marketplace.models import GpuModel, Reservation
from tests.browser import (
    NARROW_SCREEN,
    Journey,
    Traffic,
    accessibility_violations,
    overflows_narrow_screen,
)
from tests.factories import MembershipFactory, OfferFactory, ProviderFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def h100x8(provider, sku: str, price: str):
    return OfferFactory(
        provider=provider,
        sku=sku,
        gpu=GpuModel.objects.get(name="H100", memory_gb=80),
        gpu_count=8,
        price_per_hour=Decimal(price),
        price_per_gpu_hour=Decimal(price) / 8,
    )


def sign_in_as_a_buyer(page, live_server):
    buyer = MembershipFactory(role=Role.BUYER)
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", buyer.user.email)
    page.fill("#id_password", "a-good-password-1")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    # the icon too, which a page left at once would count as a failed request
    page.wait_for_load_state("networkidle")
    return buyer


def test_a_buyer_asks_for_a_quote_and_reserves_the_cheapest_plan(live_server, page, request):
    # given two reservable 8×H100 offers, one not reservable here, and a buyer signed in
    traffic = Traffic().watch(page)
    journey = Journey(request.node.name)
    cloud = ProviderFactory(slug="fastcloud", name="Fast Cloud")
    cheap, _ = h100x8(cloud, "cheap.h100x8", "20"), h100x8(cloud, "dear.h100x8", "24")
    h100x8(ProviderFactory(slug="listedcloud", name="Listed", launcher=""), "listed.h100x8", "12")
    buyer = sign_in_as_a_buyer(page, live_server)

    # when they open the quote page from the navigation and ask for 8×H100 for 10 hours
    page.click("header >> text=Get a quote")
    page.fill("#id_gpu", "H100:8")
    page.fill("#id_hours", "10")
    journey.snap(page, "the request")
    page.click("#get-quote")

    # then the plans come cheapest first, all-in (20/h × 10 h + 20/h × 120 s boot = 200.67)
    page.wait_for_selector("#plan-1")
    journey.snap(page, "the plans")
    totals = page.locator(".plan-total").all_inner_texts()
    assert totals == ["200.67 USD", "240.80 USD"]
    assert "cheap.h100x8" in page.inner_text("#plan-1")
    assert "listed.h100x8" in page.inner_text("#elsewhere")
    # and the price lock counts down
    assert re.fullmatch(r"[0-9]:[0-5][0-9] left\.", page.inner_text("#countdown"))
    assert "UTC" in page.inner_text("#price-lock")
    # and the answer is accessible and fits a phone
    assert accessibility_violations(page) == []
    page.set_viewport_size(NARROW_SCREEN)
    assert overflows_narrow_screen(page) == []
    journey.snap(page, "the plans on a phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    # when they reload, the same plans are shown (nothing asked again)
    page.wait_for_load_state("networkidle")
    page.reload()
    assert page.locator(".plan-total").all_inner_texts() == totals

    # when they reserve the cheapest plan
    page.click("#reserve-plan-1")

    # then they land on its reservation, at the quoted price
    reservation = Reservation.objects.get(org=buyer.org)
    page.wait_for_url(f"{live_server.url}/reservations/{reservation.pk}/")
    journey.snap(page, "the reservation")
    assert reservation.offer_id == cheap.pk
    assert page.inner_text("#price") == "20.000000 USD/h"
    assert page.inner_text("#quoted") == "200.67 USD"
    assert traffic.problems() == []


def test_a_bad_spec_is_shown_at_its_position(live_server, page):
    traffic = Traffic().watch(page)
    sign_in_as_a_buyer(page, live_server)
    page.goto(f"{live_server.url}/quote/")

    page.fill("#id_gpu", "H100:eight")
    page.fill("#id_hours", "10")
    page.click("#get-quote")

    error = page.inner_text("#id_gpu_error")
    assert "gpu: H100:eight" in error and "^" in error
    assert accessibility_violations(page) == []
    # the refused form answers 400, which the browser reports; nothing else
    assert traffic.problems() == [
        f"{live_server.url}/quote/: HTTP 400",
        "console: Failed to load resource: the server responded with a status of 400 (Bad Request)",
    ]


def test_the_countdown_says_when_the_lock_expires(live_server, page, settings):
    settings.QUOTE_TTL_SECONDS = 2
    traffic = Traffic().watch(page)
    h100x8(ProviderFactory(slug="fastcloud", name="Fast Cloud"), "cheap.h100x8", "20")
    sign_in_as_a_buyer(page, live_server)
    page.goto(f"{live_server.url}/quote/")

    page.fill("#id_gpu", "H100:8")
    page.click("#get-quote")

    page.wait_for_selector("#price-lock.expired", timeout=10_000)
    assert page.inner_text("#countdown") == "The price lock has expired: ask for a new quote."
    assert page.locator("#reserve-plan-1").is_disabled()
    assert traffic.problems() == []
