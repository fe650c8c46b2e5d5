"""/api/docs/ (Swagger UI) and /api/redoc/ in headless Chromium: everything they load comes
from our own server (drf-spectacular-sidecar's static files), nothing fails, nothing is
refused by the Content-Security-Policy, and the operations render."""

from __future__ import annotations

import pytest

from tests.browser import Traffic

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REDOC_VENDOR_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.fixture
def traffic(page) -> Traffic:
    return Traffic().watch(page)


def test_swagger_ui_renders_the_operations_from_our_own_files(live_server, page, traffic):
    # when a visitor opens the interactive docs
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".opblock", timeout=20_000)
    page.wait_for_load_state("networkidle")

    # then the operations are listed, with their paths
    summaries = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/api/v1/offers/" in summaries
    assert "/api/v1/reservations/{reservation_id}/terminate/" in summaries
    # and everything came from the live server, without a failure or a CSP refusal
    assert traffic.outside_hosts() == []
    assert traffic.failures == []
    assert traffic.refused_by_csp == []
    assert traffic.console_errors == []
    assert f"{live_server.url}/api/schema/" in traffic.urls
    assert any("/static/drf_spectacular_sidecar/swagger-ui-dist/" in url for url in traffic.urls)


def test_an_operation_opens_and_shows_its_parameters(live_server, page, traffic):
    page.goto(f"{live_server.url}/api/docs/")
    operation = page.locator(".opblock", has_text="/api/v1/offers/").first
    operation.locator(".opblock-summary").click()

    assert operation.locator(".parameters-container").get_by_text("sort").first.is_visible()
    assert traffic.console_errors == []


def test_redoc_renders_the_operations_from_our_own_files(live_server, page, traffic):
    page.goto(f"{live_server.url}/api/redoc/")
    page.wait_for_selector("[data-section-id^='operation/']", timeout=20_000)
    page.wait_for_load_state("networkidle")

    assert page.locator("[data-section-id^='operation/']").count() > 20
    assert "/api/v1/offers/" in page.inner_text("body")
    assert traffic.outside_hosts() == []
    assert traffic.failures == []
    # ReDoc's footer always shows its vendor's logo from their CDN: img-src refuses it in the
    # browser, so that request is never sent (the footer hides a logo that fails to load).
    assert traffic.refused_by_csp == [REDOC_VENDOR_LOGO]
    assert [error for error in traffic.console_errors if REDOC_VENDOR_LOGO not in error] == []
    assert any("/static/drf_spectacular_sidecar/redoc/" in url for url in traffic.urls)
