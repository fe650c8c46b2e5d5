"""The pages as a person uses them, in headless Chromium against a live server."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.factories import OfferFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_visitor_signs_up_and_searches_offers(live_server, page):
    # given two offers in the catalog
    OfferFactory(
        sku="cheap-h100", price_per_hour=Decimal("2.100000"), price_per_gpu_hour=Decimal("2.100000")
    )
    OfferFactory(
        sku="dear-h100", price_per_hour=Decimal("3.900000"), price_per_gpu_hour=Decimal("3.900000")
    )

    # when a visitor signs up
    page.goto(f"{live_server.url}/signup/")
    page.fill("#id_email", "grace@example.com")
    page.fill("#id_password", "a-long-password-9")
    page.fill("#id_organization", "Hopper Labs")
    page.click("button[type=submit]")

    # then they land signed in on the quote page, and the home page counts the offers
    page.wait_for_url(f"{live_server.url}/quote/")
    assert "grace@example.com" in page.inner_text("header")
    page.click("header .brand")
    assert page.inner_text("#offer-count") == "2"

    # when they open the offers table, the cheapest GPU-hour comes first
    page.click("text=Browse offers")
    rows = page.locator("#offers tbody tr")
    assert rows.count() == 2
    assert "2.1000" in rows.nth(0).inner_text()

    # and a query the catalog cannot understand is shown with its position
    page.fill("input[name=q]", "colour=red")
    page.click("form.query button")
    assert "colour" in page.inner_text("#query-error")
