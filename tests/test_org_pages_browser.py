"""The organization's pages as people use them, in headless Chromium against a live server:
an owner invites someone, who signs up from the e-mailed link in a browser of their own and
lands as a member with the role; the owner sets the budget and sees it."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Membership, Role
from billing.models import Budget, Invoice, InvoiceLine
from billing.periods import month_start, next_month_start
from marketplace.models import Reservation
from tests.browser import (
    NARROW_SCREEN,
    Traffic,
    accessibility_violations,
    overflows_narrow_screen,
)
from tests.factories import MembershipFactory, OfferFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

INVITED = "lin@example.com"


class PageTrouble:
    """What a page should never do: log a console error (a CSP refusal is one) or fail a
    request."""

    def __init__(self):
        self.problems: list[str] = []

    def watch(self, page) -> None:
        page.on("console", lambda m: self.problems.append(m.text) if m.type == "error" else None)
        page.on("requestfailed", lambda r: self.problems.append(f"{r.url}: {r.failure}"))


def _charge(org, amount: str) -> None:
    """A line of this month's draft invoice."""
    start = month_start(timezone.now())
    reservation = Reservation.objects.create(
        org=org, offer=OfferFactory(), gpus=1, units=1, hours=Decimal(1),
        price_per_hour=Decimal(amount), reserved_until=timezone.now(),
    )  # fmt: skip
    invoice = Invoice.objects.create(
        org=org, period_start=start, period_end=next_month_start(start), currency="USD"
    )
    InvoiceLine.objects.create(
        invoice=invoice, reservation=reservation, service_period_start=start, description="use",
        seconds=3600, price_per_hour=Decimal(amount), amount=Decimal(amount),
    )  # fmt: skip


def _sign_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("#id_username", email)
    page.fill("#id_password", "a-good-password-1")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{base}/")


def test_an_invitee_signs_up_from_the_link_and_the_owner_sets_the_budget(
    live_server, page, mailoutbox
):
    base = live_server.url
    owner = MembershipFactory(role=Role.OWNER)
    trouble = PageTrouble()
    trouble.watch(page)

    # when the owner invites an address as finance
    _sign_in(page, base, owner.user.email)
    page.click("header >> text=Members")
    page.fill("#id_email", INVITED)
    page.select_option("#id_role", Role.FINANCE)
    page.click("#invite")

    # then the invitation is pending and the e-mail carries the link
    page.wait_for_selector(".messages")
    assert INVITED in page.inner_text("#invitations")
    (sent,) = mailoutbox
    link = re.search(r"http://\S+/invites/\S+/", sent.body)[0]

    # when the invitee opens the link in a browser of their own and signs up
    invitee = page.context.browser.new_context()
    their_page = invitee.new_page()
    trouble.watch(their_page)
    their_page.goto(link)
    assert their_page.input_value("#invited-email") == INVITED
    their_page.fill("#id_password", "a-long-password-9")
    their_page.click("#sign-up")

    # then they land on the home page, signed in, a finance member of the organization
    their_page.wait_for_url(f"{base}/")
    assert INVITED in their_page.inner_text("header")
    assert f"You joined {owner.org.name} as finance." in their_page.inner_text(".messages")
    assert Membership.objects.get(user__email=INVITED).role == Role.FINANCE
    their_page.click("header >> text=Members")
    row = their_page.locator("#members tbody tr", has_text=INVITED)
    assert "Finance" in row.inner_text()
    invitee.close()

    # when the owner sets a budget
    page.click("header >> text=Budget")
    page.fill("#id_monthly_limit", "750.00")
    page.fill("#id_currency", "USD")
    page.check("#id_hard_stop")
    page.click("#save-budget")

    # then they see it
    page.wait_for_selector(".messages")
    assert "Budget saved." in page.inner_text(".messages")
    assert page.inner_text("#limit") == "750.00 USD"
    assert page.input_value("#id_monthly_limit") == "750.00"
    assert page.is_checked("#id_hard_stop")
    assert Budget.objects.get(org=owner.org).hard_stop

    # when the month has a charge, the spend page draws it
    _charge(owner.org, "12.34")
    page.click("header >> text=Spend")
    assert page.inner_text("#total") == "12.34 USD"
    assert page.locator("svg.chart rect.bar").count() == timezone.now().day
    # and no page logged a console error (a CSP refusal is one) nor failed a request
    assert trouble.problems == []


def test_a_member_of_two_organizations_switches_with_the_keyboard(live_server, page):
    # given an owner of Alpha who is also finance in Beta, signed in (acting for Alpha)
    alpha = MembershipFactory(role=Role.OWNER, org__name="Alpha")
    MembershipFactory(role=Role.FINANCE, org__name="Beta", user=alpha.user)
    traffic = Traffic().watch(page)
    _sign_in(page, live_server.url, alpha.user.email)
    page.goto(f"{live_server.url}/org/members/")
    assert page.locator("header >> text=API keys").count() == 1

    # when they pick Beta in the navigation's picker and press Switch, by keyboard
    page.focus("#org-picker")
    page.select_option("#org-picker", label="Beta (finance)")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")

    # then the same page shows Beta, where finance has no keys page but the invoices
    page.wait_for_selector(".messages >> text=You now act for Beta as finance.")
    assert page.url == f"{live_server.url}/org/members/"
    assert page.locator("header >> text=API keys").count() == 0
    assert page.locator("header >> text=Invoices").count() == 1
    assert accessibility_violations(page) == []
    page.set_viewport_size(NARROW_SCREEN)
    assert overflows_narrow_screen(page) == []
    assert traffic.problems() == []
