"""The offers page's filter builder in headless Chromium against the live server: the script
writes into the query box exactly what the server writes from the same fields
(marketplace/search/builder.py), a buyer builds a filter and gets its offers, refusals show at
their fields; the page is accessible (axe-core), keeps a sensible keyboard order, fits a phone
and the browser reports nothing failed or refused (no inline script under the CSP)."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect

from marketplace.models import GpuModel
from marketplace.search import clear_catalog_cache
from marketplace.search.builder import GPUS_MESSAGE, VRAM_MESSAGE, build_query
from marketplace.tests.builder_cases import REFUSED, WRITTEN
from tests.browser import (
    NARROW_SCREEN,
    Journey,
    Traffic,
    accessibility_violations,
    overflows_narrow_screen,
)
from tests.factories import OfferFactory, ProviderFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SELECTS = ("gpu", "continent", "pricing", "price_per")
TEXTS = ("gpus", "vram", "region", "max_price")
# The order a keyboard reaches the builder's fields, as they read on the screen.
TAB_ORDER = [
    "builder-gpu",
    "builder-gpus",
    "builder-vram",
    "builder-continent",
    "builder-region",
    "builder-pricing",
    "builder-max_price",
    "builder-price_per",
    "builder-apply",
]


def fill_builder(page, fields: dict[str, str]) -> None:
    """Every field set as a person would (blank when not given): selects chosen, text typed."""
    for name in SELECTS:
        default = "gpu_hour" if name == "price_per" else ""
        page.select_option(f"#builder-{name}", fields.get(name, default))
    for name in TEXTS:
        page.fill(f"#builder-{name}", fields.get(name, ""))


def four_offers() -> None:
    """Three 8×H100 (Europe on demand and spot, North America) and one L4 in Europe."""
    clear_catalog_cache()
    provider = ProviderFactory(slug="fastcloud", name="Fast Cloud")
    h100 = GpuModel.objects.get(name="H100", memory_gb=80)
    l4 = GpuModel.objects.get(name="L4")
    rows = [
        ("h100x8-eu", h100, 8, "EU", "eu-west-1", "on_demand", "24"),
        ("h100x8-eu-spot", h100, 8, "EU", "eu-west-1", "spot", "14"),
        ("h100x8-us", h100, 8, "NA", "us-east-1", "on_demand", "20"),
        ("l4x1-eu", l4, 1, "EU", "eu-west-1", "on_demand", "0.8"),
    ]
    for sku, gpu, count, continent, region, pricing, price in rows:
        OfferFactory(provider=provider, sku=sku, gpu=gpu, gpu_count=count,
                     gpu_memory_gb=Decimal(gpu.memory_gb), continent=continent, region=region,
                     pricing=pricing, price_per_hour=Decimal(price))  # fmt: skip


def test_the_script_writes_what_the_server_writes(live_server, page):
    # given the offers page
    traffic = Traffic().watch(page)
    page.goto(f"{live_server.url}/offers/")
    box = page.locator("#q")

    for fields, expected in WRITTEN:
        if "keep" in fields:
            # a filter the fields cannot say, which the server keeps for the script
            page.goto(f"{live_server.url}/offers/?{urlencode({'q': fields['keep']})}")
        # when the fields are filled in
        fill_builder(page, fields)
        # then the query box holds the text the server writes, which is the expected text
        assert build_query(fields) == expected
        expect(box).to_have_value(expected)
        expect(page.locator("#filter-builder .error:visible")).to_have_count(0)

    for fields, errors in REFUSED:
        fill_builder(page, fields)
        for name, message in errors.items():
            expect(page.locator(f"#builder-{name}_error")).to_have_text(message)
            expect(page.locator(f"#builder-{name}")).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#filter-builder .error:visible")).to_have_count(len(errors))
    assert traffic.problems() == []


def test_a_buyer_builds_a_filter_and_gets_its_offers(live_server, page, request):
    # given four offers, three of them 8×H100
    traffic = Traffic().watch(page)
    journey = Journey(request.node.name)
    four_offers()
    page.goto(f"{live_server.url}/offers/")
    expect(page.locator("#offers tbody tr")).to_have_count(4)

    # when they choose H100, at least 8 GPUs, Europe, on demand or spot up to 3 per GPU-hour
    page.select_option("#builder-gpu", "H100")
    page.fill("#builder-gpus", "8")
    page.select_option("#builder-continent", "EU")
    page.fill("#builder-max_price", "3")

    # then the query box says it in the filter language, as they choose
    expect(page.locator("#q")).to_have_value("gpu=H100 gpus>=8 continent=EU gpu_price<=3")
    journey.snap(page, "the builder writes the query")
    assert accessibility_violations(page) == []

    # when they apply it
    page.click("#builder-apply")

    # then only the two European 8×H100 offers are listed, cheapest per GPU-hour first,
    # and the fields and the box say what was asked
    page.wait_for_url("**/offers/?gpu=H100*")
    rows = page.locator("#offers tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("1.7500")  # 14/8
    expect(rows.nth(1)).to_contain_text("3.0000")  # 24/8
    expect(page.locator("#q")).to_have_value("gpu=H100 gpus>=8 continent=EU gpu_price<=3")
    expect(page.locator("#builder-gpu")).to_have_value("H100")
    expect(page.locator("#builder-continent")).to_have_value("EU")
    journey.snap(page, "the offers it picks")

    # and the page is accessible, in a sensible keyboard order, and fits a phone
    assert accessibility_violations(page) == []
    page.focus("#builder-gpu")
    reached = ["builder-gpu"]
    for _ in TAB_ORDER[1:]:
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.id"))
    assert reached == TAB_ORDER
    page.set_viewport_size(NARROW_SCREEN)
    assert overflows_narrow_screen(page) == []
    journey.snap(page, "on a phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    # when they narrow it to spot by hand in the box, they are told how to keep it, and search
    page.fill("#q", "gpu=H100 gpus>=8 continent=EU gpu_price<=3 pricing=spot")
    expect(page.locator("#builder-status")).to_contain_text("press Search to use it")
    page.click("form.query button")

    # then the builder reads the query back, pricing included
    expect(page.locator("#offers tbody tr")).to_have_count(1)
    expect(page.locator("#builder-pricing")).to_have_value("spot")
    expect(page.locator("#builder-max_price")).to_have_value("3")
    assert traffic.problems() == []


def test_a_refused_field_shows_its_error_there(live_server, page):
    traffic = Traffic().watch(page)
    four_offers()
    page.goto(f"{live_server.url}/offers/")

    # when they type a negative count and text for the memory
    page.fill("#builder-gpus", "-1")
    page.fill("#builder-vram", "lots")
    page.select_option("#builder-gpu", "L4")

    # then the script says so at each field, and writes only what it can
    expect(page.locator("#builder-gpus_error")).to_have_text(GPUS_MESSAGE)
    expect(page.locator("#builder-vram_error")).to_have_text(VRAM_MESSAGE)
    expect(page.locator("#q")).to_have_value("gpu=L4")
    assert accessibility_violations(page) == []

    # and sent anyway, the server refuses them at the same fields (400, no 500)
    page.click("#builder-apply")
    page.wait_for_url("**/offers/?gpu=L4*")
    expect(page.locator("#builder-gpus_error")).to_have_text(GPUS_MESSAGE)
    expect(page.locator("#builder-vram_error")).to_have_text(VRAM_MESSAGE)
    expect(page.locator("#builder-gpus")).to_have_value("-1")
    expect(page.locator("#offers tbody")).to_contain_text("Fix the marked filter fields")
    assert accessibility_violations(page) == []
    url = page.url
    assert traffic.problems() == [
        f"{url}: HTTP 400",
        "console: Failed to load resource: the server responded with a status of 400 (Bad Request)",
    ]
