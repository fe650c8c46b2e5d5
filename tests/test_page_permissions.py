"""Every page × every role: pages check roles as the API does (issue 14).

The pages are listed from the URLconf, so a new page without a row in EXPECTED fails here.
The table is written by hand, from what each role is for (docs/api.md, "Roles"): it is not
derived from `accounts.actors.PERMISSIONS`, so a change to that table shows up here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cached_property
from urllib.parse import quote

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.models import Organization, Role
from accounts.services import api_key_create
from accounts.services_members import invitation_create
from billing import downloads
from billing.models import ProviderStatement
from billing.services.credit_notes import CreditRequest, credit_note_issue
from billing.services.payouts import statements_build
from billing.tests.payouts_fixtures import issued_invoice, mark_paid
from marketplace.models import Quote, Reservation, ReservationStatus
from tests.factories import MembershipFactory, OfferFactory, OrganizationFactory, ProviderFactory

pytestmark = pytest.mark.django_db

SEPTEMBER = datetime(2026, 9, 1, tzinfo=UTC)
NOVEMBER = datetime(2026, 11, 1, tzinfo=UTC)
CONNECTION = {"host": "gpu-7.example.net", "user": "trainer", "port": 2222}
SSH_LINE = "ssh trainer@gpu-7.example.net -p 2222"

ROLES = (Role.OWNER, Role.ADMIN, Role.BUYER, Role.FINANCE, Role.PROVIDER)
SIGN_IN = "sign-in"  # an anonymous visitor is sent to the sign-in page, back here after

# URLconf entries that are not pages: the API (its own permission tests), Django's admin (staff
# only) and the health check for monitors.
NOT_PAGES = ("api/", "admin/", "healthz")


@dataclass(frozen=True)
class Expect:
    method: str
    anonymous: int | str
    by_role: tuple[int, ...]  # in the order of ROLES: owner, admin, buyer, finance, provider


EVERYONE = (200, 200, 200, 200, 200)
RESERVERS = (200, 200, 200, 403, 403)  # owner, admin, buyer
READERS = (200, 200, 200, 200, 403)  # ...and finance, who reads what it bills
FINANCE = (200, 200, 403, 200, 403)  # owner, admin, finance
PROVIDERS = (200, 200, 403, 403, 200)  # owner, admin, provider

EXPECTED = {
    "home": Expect("GET", 200, EVERYONE),
    "offers": Expect("GET", 200, EVERYONE),
    "prices": Expect("GET", 200, EVERYONE),
    "prices-csv": Expect("GET", 200, EVERYONE),
    "login": Expect("GET", 200, EVERYONE),
    "signup": Expect("GET", 200, EVERYONE),
    "logout": Expect("POST", 302, (302, 302, 302, 302, 302)),
    "offer-reserve": Expect("GET", SIGN_IN, RESERVERS),
    "reservation-list": Expect("GET", SIGN_IN, READERS),
    "reservation-detail": Expect("GET", SIGN_IN, READERS),
    "reservation-status": Expect("GET", SIGN_IN, READERS),
    "reservations-status": Expect("GET", SIGN_IN, READERS),
    # done: back to the reservation's page
    "reservation-terminate": Expect("POST", SIGN_IN, (302, 302, 302, 403, 403)),
    "provider-reservations": Expect("GET", SIGN_IN, PROVIDERS),
    "provider-statements": Expect("GET", SIGN_IN, PROVIDERS),
    "provider-statement-detail": Expect("GET", SIGN_IN, PROVIDERS),
    "invoice-list": Expect("GET", SIGN_IN, FINANCE),
    "invoice-detail": Expect("GET", SIGN_IN, FINANCE),
    "invoice-csv": Expect("GET", SIGN_IN, FINANCE),
    "invoice-pdf": Expect("GET", SIGN_IN, FINANCE),
    "invoice-exports": Expect("GET", SIGN_IN, FINANCE),
    "invoice-export-download": Expect("GET", SIGN_IN, FINANCE),
    "credit-note-list": Expect("GET", SIGN_IN, FINANCE),
    "credit-note-detail": Expect("GET", SIGN_IN, FINANCE),
    "credit-note-pdf": Expect("GET", SIGN_IN, FINANCE),
    "billing-profile": Expect("GET", SIGN_IN, FINANCE),
    # The invoice is paid: finalising or voiding it is refused as a conflict (409), an empty
    # credit form as a bad request (400), to whoever may try; the others get the 403 page.
    "invoice-finalize": Expect("POST", SIGN_IN, (409, 409, 403, 409, 403)),
    "invoice-void": Expect("POST", SIGN_IN, (409, 409, 403, 409, 403)),
    "invoice-credit": Expect("POST", SIGN_IN, (400, 400, 403, 400, 403)),
    "billing-payment": Expect("GET", SIGN_IN, FINANCE),
    # An empty form: the page again with the error beside the field (400).
    "billing-payment-method": Expect("POST", SIGN_IN, (400, 400, 403, 400, 403)),
    "billing-top-up": Expect("POST", SIGN_IN, (400, 400, 403, 400, 403)),
    # The invoice is paid: back to its page (nothing charged).
    "invoice-pay": Expect("POST", SIGN_IN, (302, 302, 403, 302, 403)),
    "org-api-keys": Expect("GET", SIGN_IN, (200, 200, 403, 403, 403)),
    # done: back to the keys page
    "org-api-key-revoke": Expect("POST", SIGN_IN, (302, 302, 403, 403, 403)),
    # Registering a provider is the organization's decision, as POST /api/v1/providers/.
    "provider-register": Expect("GET", SIGN_IN, (200, 200, 403, 403, 403)),
    "provider-offers": Expect("GET", SIGN_IN, PROVIDERS),
    "provider-offers-upload": Expect("GET", SIGN_IN, PROVIDERS),
    "provider-offers-export": Expect("GET", SIGN_IN, PROVIDERS),
    "provider-webhook": Expect("GET", SIGN_IN, PROVIDERS),
    # An empty form: the offers page again with the row's error (400).
    "provider-offer-update": Expect("POST", SIGN_IN, (400, 400, 403, 403, 400)),
    # done: back to the offers page
    "provider-offer-withdraw": Expect("POST", SIGN_IN, (302, 302, 403, 403, 302)),
    # No preview to apply: back to the upload page.
    "provider-offers-upload-apply": Expect("POST", SIGN_IN, (302, 302, 403, 403, 302)),
    # An empty form: the webhook page again with the error (400).
    "provider-webhook-rotate": Expect("POST", SIGN_IN, (400, 400, 403, 403, 400)),
    # Every member reads who the members are; owners and admins change them.
    "org-members": Expect("GET", SIGN_IN, EVERYONE),
    # Anyone signed in may make an organization, or pick one of theirs (an empty form: the
    # page they came from, saying why).
    "org-new": Expect("GET", SIGN_IN, EVERYONE),
    "org-switch": Expect("POST", SIGN_IN, (302, 302, 302, 302, 302)),
    # An empty form: the members page again with the error (400); done: back to it (302).
    "org-member-role": Expect("POST", SIGN_IN, (400, 400, 403, 403, 403)),
    "org-member-remove": Expect("POST", SIGN_IN, (302, 302, 403, 403, 403)),
    "org-invitation-create": Expect("POST", SIGN_IN, (400, 400, 403, 403, 403)),
    "org-invitation-revoke": Expect("POST", SIGN_IN, (302, 302, 403, 403, 403)),
    # The link of an invitation to someone else: it says so, to whoever opens it.
    "invitation": Expect("GET", 200, EVERYONE),
    "org-budget": Expect("GET", SIGN_IN, FINANCE),
    "billing-spend": Expect("GET", SIGN_IN, FINANCE),
    "quote": Expect("GET", SIGN_IN, RESERVERS),
    # The quote's price lock has expired: the quote page again, saying so (409).
    "quote-reserve": Expect("POST", SIGN_IN, (409, 409, 409, 403, 403)),
}


def _page_names(patterns=None, prefix: str = "") -> list[str]:
    names = []
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(entry.pattern)
        if route.startswith(NOT_PAGES):
            continue
        if isinstance(entry, URLResolver):
            names += _page_names(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            assert entry.name, f"page {route!r} has no name"
            names.append(entry.name)
    return names


class World:
    """One organization with everything a page may show, built as far as a page needs it: a
    provider it owns, an offer of it, a running reservation with its connection details, a
    paid invoice with a credit note, and the provider's statement."""

    def __init__(self):
        self.org: Organization = OrganizationFactory()

    @cached_property
    def offer(self):
        provider = ProviderFactory(org=self.org, slug="ownco", name="Own Co")
        return OfferFactory(provider=provider)

    @cached_property
    def reservation(self) -> Reservation:
        reservation = Reservation.objects.create(
            org=self.org, offer=self.offer, gpus=1, units=1, hours=Decimal(2),
            price_per_hour=Decimal("2.500000"), reserved_until=SEPTEMBER + timedelta(days=2),
        )  # fmt: skip
        Reservation.objects.filter(pk=reservation.pk).update(
            status=ReservationStatus.RUNNING, instance_id="i-7", connection=CONNECTION,
            running_since=SEPTEMBER,
        )  # fmt: skip
        return reservation

    @cached_property
    def quote(self) -> Quote:
        leg = {"offer": self.offer.pk, "gpus": 1, "units": 1, "price_per_hour": "2.500000"}
        return Quote.objects.create(
            org=self.org, hours=Decimal(2), total=Decimal("5.00"), legs=[leg],
            request={"gpu": "H100:1", "hours": "2"}, expires_at=SEPTEMBER,
        )  # fmt: skip

    @cached_property
    def invoice(self):
        invoice = issued_invoice(
            self.org, SEPTEMBER, "GM-2026-000001", [(self.reservation, "5.00")], tax="0.50"
        )
        mark_paid(invoice)
        return invoice

    @cached_property
    def credit_note(self):
        return credit_note_issue(
            invoice_id=self.invoice.pk, request=CreditRequest(reason="goodwill", amount=Decimal(1))
        )

    @cached_property
    def statement(self) -> ProviderStatement:
        self.invoice  # noqa: B018 - the statement is of what the invoice charged
        statements_build(period=SEPTEMBER, now=NOVEMBER)
        return ProviderStatement.objects.get(provider=self.offer.provider)

    @cached_property
    def api_key(self):
        creator = MembershipFactory(org=self.org, role=Role.OWNER).user
        return api_key_create(org=self.org, created_by=creator, name="ci", role=Role.BUYER).api_key

    @cached_property
    def member(self):
        return MembershipFactory(org=self.org, role=Role.BUYER)

    @cached_property
    def invitation(self):
        inviter = MembershipFactory(org=self.org, role=Role.OWNER)
        return invitation_create(
            org=self.org, email="invited@example.com", role=Role.BUYER, invited_by=inviter.user,
            inviter_role=inviter.role, site_url="http://testserver/",
        )  # fmt: skip

    def path(self, name: str) -> str:
        kwargs = {
            "offer-reserve": lambda: {"offer_id": self.offer.pk},
            "reservation-detail": lambda: {"reservation_id": self.reservation.pk},
            "reservation-status": lambda: {"reservation_id": self.reservation.pk},
            "reservation-terminate": lambda: {"reservation_id": self.reservation.pk},
            "provider-statement-detail": lambda: {"statement_id": self.statement.pk},
            "invoice-detail": lambda: {"invoice_id": self.invoice.pk},
            "invoice-csv": lambda: {"invoice_id": self.invoice.pk},
            "invoice-pdf": lambda: {"invoice_id": self.invoice.pk},
            "invoice-finalize": lambda: {"invoice_id": self.invoice.pk},
            "invoice-void": lambda: {"invoice_id": self.invoice.pk},
            "invoice-credit": lambda: {"invoice_id": self.invoice.pk},
            "invoice-pay": lambda: {"invoice_id": self.invoice.pk},
            "org-api-key-revoke": lambda: {"key_id": self.api_key.pk},
            "provider-offer-update": lambda: {"offer_id": self.offer.pk},
            "provider-offer-withdraw": lambda: {"offer_id": self.offer.pk},
            "org-member-role": lambda: {"member_id": self.member.pk},
            "org-member-remove": lambda: {"member_id": self.member.pk},
            "org-invitation-revoke": lambda: {"invitation_id": self.invitation.invitation.pk},
            "invitation": lambda: {"token": self.invitation.token},
            "quote-reserve": lambda: {"quote_id": self.quote.pk},
            "credit-note-detail": lambda: {"credit_note_id": self.credit_note.pk},
            "credit-note-pdf": lambda: {"credit_note_id": self.credit_note.pk},
            "invoice-export-download": lambda: {"name": "invoices"},
        }.get(name, dict)()
        query = "?period=2026-09" if name == "invoice-export-download" else ""
        return reverse(name, kwargs=kwargs) + query


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture(autouse=True)
def _quick_pdfs(monkeypatch):
    """Who may download is the question here, not what the file holds (test_invoice_pdf.py):
    rendering a PDF takes seconds, and the table asks for one ten times."""
    monkeypatch.setattr(downloads, "invoice_pdf", lambda **_: b"%PDF-1.7 stub")
    monkeypatch.setattr(downloads, "credit_note_pdf", lambda **_: b"%PDF-1.7 stub")


def _sign_in(client, world: World, role: str):
    member = MembershipFactory(org=world.org, role=role)
    client.force_login(member.user)
    return member


def test_every_page_has_an_expected_row():
    assert sorted(_page_names()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_what_the_table_says(client, world, name, role):
    expect = EXPECTED[name]
    path = world.path(name)
    _sign_in(client, world, role)

    response = getattr(client, expect.method.lower())(path)

    assert response.status_code == expect.by_role[ROLES.index(role)]
    if response.status_code == 403:  # the clear page, not an empty body
        assert "Not allowed" in response.content.decode()
        assert f"The role &#x27;{role}&#x27; may not do this" in response.content.decode()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_an_anonymous_visitor_is_asked_to_sign_in(client, world, name):
    expect = EXPECTED[name]
    path = world.path(name)

    response = getattr(client, expect.method.lower())(path)

    if expect.anonymous == SIGN_IN:
        assert response.status_code == 302
        assert response["Location"] == f"/login/?next={quote(path, safe='/')}"
    else:
        assert response.status_code == expect.anonymous


# --- the reservation's page --------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "sees_connection", "sees_terminate"),
    [
        (Role.OWNER, True, True),
        (Role.ADMIN, True, True),
        (Role.BUYER, True, True),
        (Role.FINANCE, False, False),
        (Role.PROVIDER, False, False),
    ],
)
def test_only_roles_that_run_workloads_see_how_to_connect_and_the_terminate_button(
    client, world, role, sees_connection, sees_terminate
):
    _sign_in(client, world, role)

    html = client.get(f"/reservations/{world.reservation.pk}/").content.decode()

    assert (SSH_LINE in html) is sees_connection
    assert ("gpu-7.example.net" in html) is sees_connection
    assert ('id="terminate"' in html) is sees_terminate


@pytest.mark.parametrize("role", [Role.FINANCE, Role.PROVIDER])
def test_finance_and_providers_cannot_terminate_a_reservation(client, world, role):
    _sign_in(client, world, role)

    response = client.post(f"/reservations/{world.reservation.pk}/terminate/")

    assert response.status_code == 403
    world.reservation.refresh_from_db()
    assert world.reservation.status == ReservationStatus.RUNNING
    assert world.reservation.events.filter(to_status="terminating").count() == 0


def test_a_buyer_terminates_it(client, world):
    _sign_in(client, world, Role.BUYER)

    response = client.post(f"/reservations/{world.reservation.pk}/terminate/")

    assert response.status_code == 302
    world.reservation.refresh_from_db()
    assert world.reservation.status == ReservationStatus.TERMINATING


# --- navigation and links ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "links"),
    [
        (Role.OWNER, {"/reservations/", "/invoices/", "/provider/"}),
        (Role.ADMIN, {"/reservations/", "/invoices/", "/provider/"}),
        (Role.BUYER, {"/reservations/"}),
        (Role.FINANCE, {"/reservations/", "/invoices/"}),
        (Role.PROVIDER, {"/provider/"}),
    ],
)
def test_the_navigation_links_only_the_pages_a_role_may_open(client, world, role, links):
    _sign_in(client, world, role)

    html = client.get("/").content.decode()

    for path in ("/reservations/", "/invoices/", "/provider/"):
        assert (f'href="{path}"' in html) is (path in links), path


@pytest.mark.parametrize(("role", "linked"), [(Role.BUYER, True), (Role.FINANCE, False)])
def test_the_offers_table_links_reserve_only_for_roles_that_may_reserve(
    client, world, role, linked
):
    offer = world.offer
    _sign_in(client, world, role)

    html = client.get("/offers/").content.decode()

    assert (f'href="/offers/{offer.pk}/reserve/"' in html) is linked
