"""Every page, as its widest reader (an owner) and as a visitor, checked in headless Chromium
with axe-core (WCAG 2.1 A/AA and axe's best practices), at a desktop and at a phone's width,
with nothing failing or complained of on the console.

The pages come from the page × role table (tests/test_page_permissions.py), so a new page is
checked here as soon as it has its row there."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from accounts.models import Role
from tests.browser import NARROW_SCREEN, Traffic, accessibility_violations, overflows_narrow_screen
from tests.factories import MembershipFactory
from tests.test_page_permissions import EXPECTED, ROLES, World

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Files, not pages: nothing for a screen reader to read.
DOWNLOADS = ("-csv", "-pdf", "-download")


def _html_pages(*, as_owner: bool) -> list[str]:
    owner = ROLES.index(Role.OWNER)
    return sorted(
        name
        for name, expect in EXPECTED.items()
        if expect.method == "GET"
        and not name.endswith(DOWNLOADS)
        and (expect.by_role[owner] if as_owner else expect.anonymous) == 200
    )


def _sign_in_as_owner(page, live_server, world: World) -> None:
    """The browser gets the session of an owner of the world's organization."""
    member = MembershipFactory(org=world.org, role=Role.OWNER)
    client = Client()
    client.force_login(member.user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
    )


def _check_every_page(page, live_server, world: World, names: list[str]) -> dict[str, list[str]]:
    traffic = Traffic().watch(page)
    found: dict[str, list[str]] = {}
    for name in names:
        path = world.path(name)
        for width in ("desktop", "narrow"):
            page.set_viewport_size(
                NARROW_SCREEN if width == "narrow" else {"width": 1280, "height": 900}
            )
            traffic.failures.clear()
            traffic.console_errors.clear()
            page.goto(f"{live_server.url}{path}")
            problems = accessibility_violations(page) if width == "desktop" else []
            if width == "narrow" and (sticking_out := overflows_narrow_screen(page)):
                problems.append(f"scrolls sideways at {NARROW_SCREEN['width']} px: {sticking_out}")
            problems += traffic.problems()
            if problems:
                found[f"{path} ({width})"] = problems
    return found


def test_every_page_an_owner_opens_is_accessible_and_fits_a_phone(live_server, page):
    world = World()
    _sign_in_as_owner(page, live_server, world)

    found = _check_every_page(page, live_server, world, _html_pages(as_owner=True))

    assert found == {}


def test_every_page_a_visitor_opens_is_accessible_and_fits_a_phone(live_server, page):
    world = World()

    found = _check_every_page(page, live_server, world, _html_pages(as_owner=False))

    assert found == {}
