"""The price index page in headless Chromium against the live server: a visitor opens it from
the navigation, picks a pricing model and a window, reads the chart and the numbers, and
downloads them as CSV; the page is accessible (axe-core), fits a phone, and the browser
reports nothing failed or refused (the Content-Security-Policy allows no inline script or
style: the chart is SVG drawn on the server, coloured by classes)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from marketplace.models import Offer, OfferPrice
from tests.browser import (
    NARROW_SCREEN,
    Journey,
    Traffic,
    accessibility_violations,
    overflows_narrow_screen,
)
from tests.factories import OfferFactory, ProviderFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _listed(provider, sku: str, price: str, *, days_ago: int, pricing: str = "on_demand"):
    offer = OfferFactory(
        provider=provider, sku=sku, pricing=pricing, price_per_hour=Decimal(price),
        price_per_gpu_hour=Decimal(price), continent="EU", country="DE",
    )  # fmt: skip
    Offer.objects.filter(pk=offer.pk).update(created_at=timezone.now() - timedelta(days=days_ago))
    return offer


def _a_month_of_prices() -> None:
    """On demand H100s at 2.00 and 3.00 (repriced from 4.00 ten days ago) for 40 days, 2.50
    listed 3 days ago, and a spot one at 1.00."""
    cloud, other = ProviderFactory(slug="cloud", name="Cloud"), ProviderFactory(slug="other")
    _listed(cloud, "steady", "2.00", days_ago=40)
    repriced = _listed(other, "repriced", "3.00", days_ago=40)
    now = timezone.now()
    OfferPrice.objects.create(
        offer=repriced, price_per_hour=Decimal("4.00"), observed_at=now - timedelta(days=40)
    )
    OfferPrice.objects.create(
        offer=repriced, price_per_hour=Decimal("3.00"), observed_at=now - timedelta(days=10)
    )
    _listed(other, "new", "2.50", days_ago=3)
    _listed(cloud, "spot", "1.00", days_ago=40, pricing="spot")


def test_a_visitor_reads_the_price_index_and_downloads_it(live_server, page, request):
    # given a month of H100 prices
    traffic = Traffic().watch(page)
    journey = Journey(request.node.name)
    _a_month_of_prices()

    # when a visitor opens the price index from the navigation
    page.goto(f"{live_server.url}/")
    page.click("header >> text=Prices")

    # then H100 over 30 days is drawn, three lines, and a row a day
    expect(page.locator("#chart-heading")).to_have_text("H100: USD per GPU-hour, last 30 days")
    expect(page.locator("#price-chart path.line")).to_have_count(3)
    expect(page.locator("#price-index tbody tr")).to_have_count(30)
    journey.snap(page, "H100 over 30 days")

    # when they ask for on-demand offers over the last 7 days
    page.select_option("#id_pricing", "on_demand")
    page.select_option("#id_days", "7")
    page.click("#price-index-form button[type=submit]")

    # then today's row holds the three on-demand prices (2.00, 2.50, 3.00) of two providers
    expect(page.locator("#price-index tbody tr")).to_have_count(7)
    today = page.locator("#price-index tbody tr").first
    expect(today.locator("td")).to_have_text(["2.10", "2.50", "2.90", "3", "2"])
    journey.snap(page, "on demand over 7 days")
    assert accessibility_violations(page) == []

    # and the CSV has the same rows
    with page.expect_download() as download:
        page.click("#price-index-csv")
    lines = open(download.value.path()).read().splitlines()  # noqa: PTH123, SIM115
    assert download.value.suggested_filename == "price-index-H100-on_demand-7d.csv"
    assert len(lines) == 8
    assert lines[-1].endswith(",2.10,2.50,2.90,3,2,USD")

    # and the page fits a phone, with nothing failed or refused on the way
    page.set_viewport_size(NARROW_SCREEN)
    assert overflows_narrow_screen(page) == []
    journey.snap(page, "on a phone")
    assert traffic.problems() == []
