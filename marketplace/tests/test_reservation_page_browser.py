"""The reservation page in a real browser: a buyer signs in, watches a reservation that the
worker launched (after failing over), and terminates it with the button; the worker ends it.
Headless Chromium (Debian's; skipped without it), the live server, PostgreSQL, Redis and a
Celery worker."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from conftest import wait_until
from marketplace.models import Reservation
from tests.factories import (
    make_org_with_key,
    reserve_with_a_failing_first_offer,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
]


def _reservation_launched_by_the_worker(buyer) -> Reservation:
    reservation = reserve_with_a_failing_first_offer(buyer, hours=1)
    return wait_until(
        lambda: Reservation.objects.filter(pk=reservation.pk, status="running").first(),
        what="the worker to launch the reservation",
    )


def _status(page) -> str:
    return page.locator("#status").inner_text()


def test_a_buyer_watches_and_terminates_a_reservation(live_server, page, celery_worker_process):
    # given a reservation the worker launched on the second offer, and its buyer signed in
    buyer = make_org_with_key(role="buyer")
    reservation = _reservation_launched_by_the_worker(buyer)
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", buyer.user.email)
    page.fill("#id_password", "a-good-password-1")
    page.click("button[type=submit]")

    # when the buyer opens the reservation
    page.goto(f"{live_server.url}/reservations/{reservation.pk}/")

    # then the page shows it running, how it got there, and the connection
    assert _status(page) == "running"
    assert "Failing over to offer" in page.locator("#timeline").inner_text()
    attempts = page.locator("#attempts tbody tr").all_inner_texts()
    assert [row.split("\t")[2] for row in attempts] == ["No capacity", "Succeeded"]
    assert page.locator("#connect").inner_text().startswith("ssh ubuntu@sim-")
    assert page.locator("#cost").inner_text().endswith(" USD")

    # when the buyer presses Terminate, and confirms
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#terminate")

    # then the request is acknowledged, and once the worker has ended it the page says so
    assert "Termination requested." in page.locator(".messages").inner_text()
    assert _status(page) in ("terminating", "terminated")

    # (without a reload)
    expect(page.locator("#status")).to_have_text("terminated", timeout=30_000)
    assert page.locator("#terminate").count() == 0
    assert not page.locator("#connect").is_visible()
    assert page.locator("#runs tbody tr").count() == 1
