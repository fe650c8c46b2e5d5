"""The provider pages in headless Chromium against the live server: an owner registers a
provider, uploads a CSV of offers, checks the preview, applies it, edits a price in its row
and withdraws an offer; no console error and no failed request on the way."""

from __future__ import annotations

from decimal import Decimal

import pytest

from marketplace.models import Offer, OfferStatus
from marketplace.offer_csv import COLUMNS
from tests.factories import MembershipFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CSV = "\n".join(
    [
        ",".join(COLUMNS),
        "acme.h100x8,H100,8,192,1536,4000,eu-west-1,on_demand,19.50,3",
        "acme.a100x1,A100-80GB,1,16,120,500,us-east-1,spot,1.25,10",
    ]
)


@pytest.fixture
def watched_page(page):
    """The page, with what went wrong in the browser collected for the test to check."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("requestfailed", lambda r: problems.append(f"{r.url}: {r.failure}"))
    page.on("dialog", lambda dialog: dialog.accept())  # data-confirm's question: yes
    page.problems = problems
    return page


def test_a_provider_lists_offers_from_a_csv_and_edits_them(live_server, watched_page):
    page = watched_page
    owner = MembershipFactory(role="owner").user
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", owner.email)
    page.fill("#id_password", "a-good-password-1")
    page.click("button[type=submit]")

    # when the owner registers a provider
    page.click("header >> text=Your offers")
    page.click("#no-provider >> text=Register a provider")
    page.fill("#id_name", "Acme GPUs")
    page.fill("#id_slug", "acme-gpus")
    page.click("#register")

    # then its webhook secret is shown once
    assert len(page.inner_text("#secret").strip()) >= 40

    # when they upload a CSV of two offers
    page.click(".subnav >> text=Upload CSV")
    page.set_input_files(
        "#id_file", files=[{"name": "offers.csv", "mimeType": "text/csv", "buffer": CSV.encode()}]
    )
    page.click("#preview")

    # then the preview shows two new offers, and nothing is listed yet
    assert "2 new, 0 changed, 0 unchanged" in page.inner_text("#summary")
    assert page.locator("#preview-new tbody tr").count() == 2
    assert not Offer.objects.exists()

    # when they apply it, the offers page lists both
    page.click("#apply")
    assert "Applied: 2 new" in page.inner_text(".messages")
    assert page.locator("#provider-offers tbody tr").count() == 2

    # when they change the H100's price in its row
    h100 = Offer.objects.get(sku="acme.h100x8")
    page.fill(f"#price-{h100.pk}", "18.75")
    page.click(f"#edit-{h100.pk} button")
    assert "updated" in page.inner_text(".messages")
    h100.refresh_from_db()
    assert h100.price_per_hour == Decimal("18.75")
    assert page.input_value(f"#price-{h100.pk}") == "18.750000"

    # and withdraw the A100 (confirming the question)
    a100 = Offer.objects.get(sku="acme.a100x1")
    page.click(f"#offer-{a100.pk} button.danger")
    assert "withdrawn" in page.inner_text(".messages")
    a100.refresh_from_db()
    assert a100.status == OfferStatus.WITHDRAWN
    assert page.locator("#provider-offers tbody tr").count() == 1

    assert page.problems == []
