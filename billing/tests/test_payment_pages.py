"""The payment pages against localstripe: a finance member adds a card, tops up, and pays an
invoice from its page; a declined card shows why; other roles are refused."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from accounts.models import Role
from billing.models import Invoice, InvoiceStatus, PaymentAccount, TopUp
from billing.tests.payouts_fixtures import SEPTEMBER, issued_invoice, reservation_of
from tests.factories import MembershipFactory, ProviderFactory

pytestmark = pytest.mark.django_db


def _text(html: bytes) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html.decode()))


@pytest.fixture
def finance(client, settings):
    settings.ORG_CREDIT_LIMIT = Decimal(0)
    membership = MembershipFactory(role=Role.FINANCE)
    client.force_login(membership.user)
    return membership


@pytest.fixture
def invoice(finance) -> Invoice:
    return issued_invoice(
        finance.org, SEPTEMBER, "GM-2026-000031",
        [(reservation_of(finance.org, ProviderFactory(slug="cloud-pg")), "10.00")], tax="1.00",
    )  # fmt: skip


def test_a_card_is_added_and_credit_bought_on_the_payment_page(client, finance):
    saved = client.post("/invoices/payment/method/", {"payment_method": "pm_card_visa"})
    assert saved.status_code == 302

    topped = client.post("/invoices/payment/top-up/", {"amount": "20.00"}, follow=True)

    text = _text(topped.content)
    assert "visa ending 4242" in text
    assert "Top-up of 20.00 USD: succeeded." in text
    assert re.search(r"Prepaid credit 20\.00", text)
    assert re.search(r"Available 20\.00", text)


def test_bad_input_is_shown_beside_the_field(client, finance):
    response = client.post("/invoices/payment/method/", {"payment_method": "not a card!"})

    assert response.status_code == 400
    assert "Enter a Stripe id such as pm_card_visa." in _text(response.content)


def test_an_invoice_is_paid_from_its_page(client, finance, invoice):
    page = client.get(f"/invoices/{invoice.pk}/")
    assert "add one to pay this invoice" in _text(page.content)
    client.post("/invoices/payment/method/", {"payment_method": "pm_card_visa"})
    assert "Pay 11.00 USD now" in _text(client.get(f"/invoices/{invoice.pk}/").content)

    paid = client.post(f"/invoices/{invoice.pk}/pay/", follow=True)

    text = _text(paid.content)
    assert "Invoice GM-2026-000031 is paid." in text
    assert re.search(r"Paid on \d{4}-\d\d-\d\d", text)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID


def test_a_declined_card_shows_why_on_the_invoice(client, finance, invoice):
    client.post("/invoices/payment/method/", {"payment_method": "pm_card_chargeCustomerFail"})

    response = client.post(f"/invoices/{invoice.pk}/pay/", follow=True)

    text = _text(response.content)
    assert response.status_code == 200
    assert "Last try: Payment failed:" in text
    assert "Next try:" in text
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.OPEN


@pytest.mark.parametrize("role", [Role.BUYER, Role.PROVIDER])
def test_other_roles_cannot_use_the_payment_pages(client, role):
    membership = MembershipFactory(role=role)
    client.force_login(membership.user)

    assert client.get("/invoices/payment/").status_code == 403
    assert client.post("/invoices/payment/top-up/", {"amount": "5"}).status_code == 403
    refused = client.post("/invoices/payment/method/", {"payment_method": "pm_card_visa"})
    assert refused.status_code == 403
    assert not PaymentAccount.objects.exists()
    assert not TopUp.objects.exists()
