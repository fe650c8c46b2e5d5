"""The quote page in headless Chromium against the live server: a buyer asks, sees the plans
with the price lock counting down, reloads, reserves, and lands on the reservation; the
browser reports no errors (the Content-Security-Policy allows no inline script or style)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from accounts.models import Role
from marketplace.models import GpuModel, Reservation
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


@pytest.fixture
def browser_problems(page):
    """Console errors, uncaught exceptions and failed requests, as the page runs."""
    problems = []
    page.on(
        "console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None
    )
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url} {r.failure}"))
    page.on(
        "response", lambda r: problems.append(f"{r.status}: {r.url}") if r.status >= 400 else None
    )
    return problems


def test_a_buyer_asks_for_a_quote_and_reserves_the_cheapest_plan(
    live_server, page, browser_problems
):
    # given two reservable 8×H100 offers and a buyer signed in
    cloud = ProviderFactory(slug="fastcloud", name="Fast Cloud")
    cheap, _ = h100x8(cloud, "cheap.h100x8", "20"), h100x8(cloud, "dear.h100x8", "24")
    buyer = MembershipFactory(role=Role.BUYER)
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", buyer.user.email)
    page.fill("#id_password", "a-good-password-1")
    page.click("main button[type=submit]")

    # when they open the quote page from the navigation and ask for 8×H100 for 10 hours
    page.click("header >> text=Get a quote")
    page.fill("#id_gpu", "H100:8")
    page.fill("#id_hours", "10")
    page.click("#get-quote")

    # then the plans come cheapest first, all-in (20/h × 10 h + 20/h × 120 s boot = 200.67)
    page.wait_for_selector("#plan-1")
    totals = page.locator(".plan-total").all_inner_texts()
    assert totals == ["200.67 USD", "240.80 USD"]
    assert "cheap.h100x8" in page.inner_text("#plan-1")
    # and the price lock counts down
    assert re.fullmatch(r"[0-9]:[0-5][0-9] left\.", page.inner_text("#countdown"))
    assert "UTC" in page.inner_text("#price-lock")

    # when they reload, the same plans are shown (nothing asked again)
    page.reload()
    assert page.locator(".plan-total").all_inner_texts() == totals

    # when they reserve the cheapest plan
    page.click("#reserve-plan-1")

    # then they land on its reservation, at the quoted price
    reservation = Reservation.objects.get(org=buyer.org)
    page.wait_for_url(f"{live_server.url}/reservations/{reservation.pk}/")
    assert reservation.offer_id == cheap.pk
    assert page.inner_text("#price") == "20.000000 USD/h"
    assert page.inner_text("#quoted") == "200.67 USD"
    assert browser_problems == []


def test_a_bad_spec_is_shown_at_its_position(live_server, page, browser_problems):
    buyer = MembershipFactory(role=Role.BUYER)
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", buyer.user.email)
    page.fill("#id_password", "a-good-password-1")
    page.click("main button[type=submit]")
    page.goto(f"{live_server.url}/quote/")

    page.fill("#id_gpu", "H100:eight")
    page.fill("#id_hours", "10")
    page.click("#get-quote")

    error = page.inner_text("#id_gpu_error")
    assert "gpu: H100:eight" in error and "^" in error
    # the refused form answers 400, which the browser reports; nothing else
    assert sorted(browser_problems) == [
        f"400: {live_server.url}/quote/",
        "console: Failed to load resource: the server responded with a status of 400 (Bad Request)",
    ]


def test_the_countdown_says_when_the_lock_expires(live_server, page, browser_problems, settings):
    settings.QUOTE_TTL_SECONDS = 2
    h100x8(ProviderFactory(slug="fastcloud", name="Fast Cloud"), "cheap.h100x8", "20")
    buyer = MembershipFactory(role=Role.BUYER)
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", buyer.user.email)
    page.fill("#id_password", "a-good-password-1")
    page.click("main button[type=submit]")
    page.goto(f"{live_server.url}/quote/")

    page.fill("#id_gpu", "H100:8")
    page.click("#get-quote")

    page.wait_for_selector("#price-lock.expired", timeout=10_000)
    assert page.inner_text("#countdown") == "The price lock has expired: ask for a new quote."
    assert page.locator("#reserve-plan-1").is_disabled()
    assert browser_problems == []
