"""One journey per user, end to end on the real stack, in headless Chromium: the live server,
PostgreSQL, Redis, a Celery worker process and localstripe. Nothing is done through the API
that a person would do on a page; a provider reports its instance's state through the API,
as providers do. Each step's screenshot is kept (tests/browser.py, `Journey`), and no page
fails a request or complains on its console.

- a buyer: signs up, is refused for want of funds, adds a card and tops up, asks for a quote,
  reserves, watches it run, terminates it, and finds its cost on the invoice;
- a provider: registers, lists offers from a CSV, mints a provider key, sees the launch
  request of a buyer's reservation, reports it running, and sees it running;
- an organization's owner: invites a teammate, who joins; makes an API key; sets a budget.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import urlsplit

import pytest
import requests
from playwright.sync_api import expect

from accounts.models import Membership, Role
from billing.models import InvoiceLine
from conftest import wait_until
from marketplace.models import LaunchRequest, Offer, Reservation, ReservationRun
from marketplace.offer_csv import COLUMNS
from tests.browser import Journey, Traffic
from tests.factories import MembershipFactory, OfferFactory, make_org_with_key

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-good-password-1"  # the factories' password
CENTS = Decimal("0.01")
BOOT_SECONDS = 120  # a provider's start-up time unless it says otherwise (ProviderRates)


@pytest.fixture
def watched(page):
    """The page with its traffic watched, and data-confirm's questions answered yes."""
    traffic = Traffic().watch(page)
    page.on("dialog", lambda dialog: dialog.accept())
    return page, traffic


def _sign_in(page, live_server, email: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", email)
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")


def _ask_for_a_quote(page, gpu: str, hours: str) -> None:
    page.fill("#id_gpu", gpu)
    page.fill("#id_hours", hours)
    page.click("#get-quote")
    page.wait_for_selector("#plan-1")


def test_a_buyer_from_sign_up_to_a_running_reservation_and_its_cost_on_the_invoice(
    live_server, watched, celery_worker_process, settings, request
):
    page, traffic = watched
    journey = Journey(request.node.name)
    settings.ORG_CREDIT_LIMIT = Decimal(0)  # a new organization pays before it runs anything
    offer = OfferFactory(sku="sim.h100x1", price_per_hour=Decimal("3.600000"), available=2)

    # a visitor signs up, and lands on the quote page
    page.goto(f"{live_server.url}/signup/")
    page.fill("#id_email", "ada@example.com")
    page.fill("#id_password", "a-long-password-9")
    page.fill("#id_organization", "Analytical Engines")
    journey.snap(page, "sign up")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_server.url}/quote/")

    # they ask for one H100 for an hour: 3.60/h × 1 h + 3.60/h × 120 s start-up = 3.72
    _ask_for_a_quote(page, "H100:1", "1")
    journey.snap(page, "the plans")
    assert page.locator(".plan-total").first.inner_text() == "3.72 USD"

    # reserving is refused: nothing paid in, no credit
    page.click("#reserve-plan-1")
    assert "the organization has 0.00 USD available" in page.inner_text(".messages")
    journey.snap(page, "refused for want of funds")
    assert not Reservation.objects.exists()
    assert [urlsplit(url).path for url in traffic.take_refusals(402)] == [urlsplit(page.url).path]

    # they follow the page's pointer, add a card and top up 10.00 on the payment page
    page.click("#funds-help >> text=payment page")
    page.fill("#id_payment_method", "pm_card_visa")
    page.click("#save-card")
    page.fill("#id_amount", "10.00")
    page.click("#top-up")
    assert "visa ending 4242" in page.inner_text("#card")
    assert page.inner_text("#prepaid") == "10.00"
    journey.snap(page, "card and credit")

    # they ask again and reserve the plan
    page.click("header >> text=Get a quote")
    _ask_for_a_quote(page, "H100:1", "1")
    page.click("#reserve-plan-1")
    reservation = wait_until(lambda: Reservation.objects.filter(offer=offer).first(), what="it")
    page.wait_for_url(f"{live_server.url}/reservations/{reservation.pk}/")

    # the worker launches it, and the page shows it running without a reload
    expect(page.locator("#status")).to_have_text("running", timeout=30_000)
    assert page.inner_text("#connect").startswith("ssh ")
    # and the timeline, the attempts and the running time with it
    expect(page.locator("#runs tbody tr td").first).to_have_text("1")
    expect(page.locator("#attempts tbody")).to_contain_text("Succeeded")
    expect(page.locator("#timeline tbody")).to_contain_text("running")
    journey.snap(page, "running")

    # they terminate it, confirm, and the page shows it ended
    page.click("#terminate")
    expect(page.locator("#status")).to_have_text("terminated", timeout=30_000)
    journey.snap(page, "terminated")

    # and its cost is on the month's draft invoice: the run's seconds at the locked price
    run = ReservationRun.objects.get(reservation=reservation)
    seconds = Decimal(int((run.ended_at - run.started_at).total_seconds()))
    compute = (Decimal("3.6") * seconds / 3600).quantize(CENTS, ROUND_HALF_UP)
    start_up = (Decimal("3.6") * BOOT_SECONDS / 3600).quantize(CENTS, ROUND_HALF_UP)
    wait_until(
        lambda: InvoiceLine.objects.filter(reservation=reservation, component="compute").exists(),
        what="the invoice line",
    )
    page.click("header >> text=Invoices")
    page.click("#invoices tbody tr >> text=Draft")
    lines = page.locator("#lines tbody tr").all_inner_texts()
    journey.snap(page, "the cost on the invoice")
    amounts = {row.split("\t")[0]: row.split("\t")[-1] for row in lines}
    assert amounts == {"Compute": str(compute), "Boot": str(start_up)}
    assert traffic.problems() == []


def test_a_provider_lists_offers_by_csv_and_serves_a_reservation(
    live_server, watched, celery_worker_process, request
):
    page, traffic = watched
    journey = Journey(request.node.name)
    owner = MembershipFactory(role=Role.OWNER).user
    _sign_in(page, live_server, owner.email)

    # the owner registers the organization as a provider
    page.click("header >> text=Your offers")
    page.click("#no-provider >> text=Register a provider")
    page.fill("#id_name", "Acme GPUs")
    page.fill("#id_slug", "acme-gpus")
    page.click("#register")
    journey.snap(page, "registered")

    # and lists an offer from a CSV, after its preview
    csv = ",".join(COLUMNS) + "\nacme.h100x1,H100,1,26,200,1000,eu-west-1,on_demand,2.40,2\n"
    page.click(".subnav >> text=Upload CSV")
    page.set_input_files(
        "#id_file", files=[{"name": "offers.csv", "mimeType": "text/csv", "buffer": csv.encode()}]
    )
    page.click("#preview")
    journey.snap(page, "the preview")
    page.click("#apply")
    assert page.locator("#provider-offers tbody tr").count() == 1
    journey.snap(page, "listed")

    # it makes a provider key for its systems
    page.click("header >> text=API keys")
    page.fill("#id_name", "launcher")
    page.select_option("#id_role", "provider")
    page.click("#create-key")
    key = page.inner_text("#secret").strip()
    journey.snap(page, "a provider key")

    # when a buyer reserves the offer, the worker files a launch request the provider sees
    offer = Offer.objects.get(sku="acme.h100x1")
    buyer = make_org_with_key(role=Role.BUYER)
    api = requests.Session()
    made = api.post(
        f"{live_server.url}/api/v1/reservations/",
        json={"offer": offer.pk, "hours": "1"},
        headers={"Authorization": f"Bearer {buyer.secret}"},
        timeout=10,
    )
    assert made.status_code == 201, made.text
    reservation_id = made.json()["id"]
    wait_until(
        lambda: LaunchRequest.objects.filter(reservation_id=reservation_id).exists(),
        what="the launch request",
    )
    page.click("header >> text=Your offers")
    page.goto(f"{live_server.url}/provider/")
    assert str(reservation_id) in page.inner_text("#launch-requests")
    journey.snap(page, "the launch request")

    # the provider reports it running through the API, with its key
    reported = api.post(
        f"{live_server.url}/api/v1/provider/reservations/{reservation_id}/events/",
        json={
            "id": "run-1",
            "type": "running",
            "connection": {"host": "gpu-1.acme.example", "user": "ubuntu", "port": 22},
        },
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert reported.status_code in (200, 201), reported.text

    # and sees the reservation running on its page
    page.reload()
    incoming = page.locator("#incoming tbody tr", has_text="acme.h100x1").inner_text()
    assert "running" in incoming
    journey.snap(page, "running")
    assert traffic.problems() == []


def test_an_owner_invites_a_teammate_makes_a_key_and_sets_a_budget(
    live_server, watched, browser, mailoutbox, request
):
    page, traffic = watched
    journey = Journey(request.node.name)
    owner = MembershipFactory(role=Role.OWNER)
    _sign_in(page, live_server, owner.user.email)

    # the owner invites a buyer by e-mail
    page.click("header >> text=Members")
    page.fill("#id_email", "grace@example.com")
    page.select_option("#id_role", "buyer")
    page.click("#invite")
    journey.snap(page, "invited")
    (mail,) = mailoutbox
    link = next(word for word in mail.body.split() if "/invites/" in word)

    # the teammate opens the link in their own browser, signs up, and is a member
    teammate = browser.new_context().new_page()
    teammate_traffic = Traffic().watch(teammate)
    teammate.goto(link)
    teammate.fill("#id_password", "another-long-password-7")
    teammate.click("#sign-up")
    journey.snap(teammate, "the teammate joined")
    membership = Membership.objects.get(user__email="grace@example.com")
    assert (membership.org_id, membership.role) == (owner.org_id, Role.BUYER)
    teammate.context.close()

    # the owner makes an API key, shown once
    page.click("header >> text=API keys")
    page.fill("#id_name", "ci")
    page.select_option("#id_role", "buyer")
    page.click("#create-key")
    assert page.inner_text("#secret").strip().startswith("gpm_")
    journey.snap(page, "a key")

    # and sets a monthly budget with a hard stop
    page.click("header >> text=Budget")
    page.fill("#id_monthly_limit", "500.00")
    page.fill("#id_currency", "USD")
    page.check("#id_hard_stop")
    page.click("#save-budget")
    journey.snap(page, "a budget")
    assert page.inner_text("#limit") == "500.00 USD"
    assert traffic.problems() == [] and teammate_traffic.problems() == []
