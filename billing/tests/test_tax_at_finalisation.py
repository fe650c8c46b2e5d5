"""Tax at finalisation: decided from the buyer's billing profile, rounded once on the
subtotal, kept on the invoice with both parties and frozen with it; shown by the API, the
invoices CSV and the PDF (Art. 226 of Directive 2006/112/EC)."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from pypdf import PdfReader

from billing.models import FROZEN_INVOICE_FIELDS, Invoice, InvoiceStatus
from billing.services.finalisation import billing_period_close, invoice_finalize
from billing.services.profiles import BillingProfileData, billing_profile_put
from billing.tax import OUTSIDE_SCOPE_NOTE, REVERSE_CHARGE_NOTE
from billing.tests.conftest import CLOSED_AT, OCTOBER, SEPTEMBER, _run, _running
from tests.factories import OrganizationFactory, make_org_with_key

pytestmark = pytest.mark.django_db

# 100,000 s at 3.600000/h: a subtotal of exactly 100.00
SECONDS_FOR_100 = 100_000
DOMESTIC = BillingProfileData(
    legal_name="Dublin Compute Ltd", address_line1="1 Grand Canal Quay", postal_code="D02 X123",
    city="Dublin", country="IE", vat_id="IE 1234567T", email="ap@dublin.example",
)  # fmt: skip
REVERSE_CHARGE = BillingProfileData(
    legal_name="Acme Compute GmbH", address_line1="Hauptstraße 1", address_line2="3. OG",
    postal_code="10115", city="Berlin", country="DE", vat_id="DE123456789",
    email="billing@acme.example",
)  # fmt: skip
NON_EU = BillingProfileData(
    legal_name="Zeta Labs Inc.", address_line1="500 Market St", postal_code="94105",
    city="San Francisco", country="US", vat_id="", email="finance@zeta.example",
)  # fmt: skip
EU_CONSUMER = BillingProfileData(
    legal_name="Aino Virtanen", address_line1="Mannerheimintie 1", postal_code="00100",
    city="Helsinki", country="FI", email="aino@example.fi",
)  # fmt: skip


@pytest.fixture(autouse=True)
def irish_seller(settings):
    settings.PLATFORM_COUNTRY = "IE"
    settings.PLATFORM_LEGAL_NAME = "GPU Market Europe Ltd"
    settings.PLATFORM_ADDRESS = "2 Dock Road; Dublin 1; D01 K2X3; Ireland"
    settings.PLATFORM_VAT_ID = "IE9876543W"


def _september_draft(org, seconds: int = SECONDS_FOR_100) -> Invoice:
    reservation = _running(org, SEPTEMBER + timedelta(days=1), "h100.1x")
    _run(
        reservation,
        until=reservation.running_since + timedelta(seconds=seconds),
        metered_at=SEPTEMBER + timedelta(days=5),
    )
    return Invoice.objects.get(org=org, status=InvoiceStatus.DRAFT)


def _finalised(profile: BillingProfileData | None, seconds: int = SECONDS_FOR_100) -> Invoice:
    org = OrganizationFactory(name="Org as named on the platform")
    if profile is not None:
        billing_profile_put(org=org, data=profile)
    draft = _september_draft(org, seconds)
    return invoice_finalize(invoice_id=draft.pk, now=CLOSED_AT)


def _figures(invoice: Invoice) -> tuple:
    invoice.refresh_from_db()
    return (
        invoice.subtotal, invoice.tax_rate, invoice.tax, invoice.total, invoice.amount_due,
        invoice.reverse_charge, invoice.tax_note,
    )  # fmt: skip


D = Decimal


def test_a_domestic_buyer_pays_the_sellers_rate():
    # 100.00 at 23 % = 23.00
    assert _figures(_finalised(DOMESTIC)) == (
        D("100.00"), D("23.00"), D("23.00"), D("123.00"), D("123.00"), False, ""
    )  # fmt: skip


def test_a_business_in_another_member_state_is_reverse_charged():
    assert _figures(_finalised(REVERSE_CHARGE)) == (
        D("100.00"), D("0.00"), D("0.00"), D("100.00"), D("100.00"), True, REVERSE_CHARGE_NOTE
    )  # fmt: skip


def test_a_buyer_outside_the_eu_pays_no_vat():
    assert _figures(_finalised(NON_EU)) == (
        D("100.00"), D("0.00"), D("0.00"), D("100.00"), D("100.00"), False, OUTSIDE_SCOPE_NOTE
    )  # fmt: skip


def test_a_consumer_in_another_member_state_pays_its_rate():
    # 100.00 at Finland's 25.5 % = 25.50
    figures = _figures(_finalised(EU_CONSUMER))
    assert figures[:6] == (D("100.00"), D("25.50"), D("25.50"), D("125.50"), D("125.50"), False)


def test_without_a_profile_the_sellers_rate_applies_and_says_so():
    invoice = _finalised(None)
    assert _figures(invoice)[:5] == (D("100.00"), D("23.00"), D("23.00"), D("123.00"), D("123.00"))
    assert invoice.tax_note.startswith("Place of supply unknown (no billing profile)")
    assert (invoice.buyer_name, invoice.buyer_address) == ("Org as named on the platform", "")


def test_the_tax_is_rounded_once_on_the_subtotal():
    # seven lines of 0.05: 0.35 x 23 % = 0.0805 -> 0.08 (taxing each line, 0.0115 -> 0.01,
    # would add up to 0.07)
    org = OrganizationFactory()
    billing_profile_put(org=org, data=DOMESTIC)
    for day in range(7):
        reservation = _running(org, SEPTEMBER + timedelta(days=day + 1), f"sku.{day}")
        _run(reservation, until=reservation.running_since + timedelta(seconds=50),
             metered_at=SEPTEMBER + timedelta(days=10))  # fmt: skip
    draft = Invoice.objects.get(org=org, status=InvoiceStatus.DRAFT)
    assert draft.subtotal == D("0.35") and draft.tax == 0  # a draft carries no tax
    invoice = invoice_finalize(invoice_id=draft.pk, now=CLOSED_AT)
    assert (invoice.tax, invoice.total) == (D("0.08"), D("0.43"))


def test_the_invoice_keeps_both_parties_as_they_were_when_it_was_issued(settings):
    # given a reverse-charged invoice
    invoice = _finalised(REVERSE_CHARGE)
    # when the buyer moves to Ireland and the platform changes its details
    billing_profile_put(org=invoice.org, data=DOMESTIC)
    settings.PLATFORM_LEGAL_NAME, settings.PLATFORM_VAT_ID = "Renamed Ltd", "IE0000000A"
    # then the issued invoice still shows what it was issued with
    invoice.refresh_from_db()
    assert {
        field: getattr(invoice, field)
        for field in ("buyer_name", "buyer_address", "buyer_country", "buyer_vat_id",
                      "buyer_email", "seller_name", "seller_address", "seller_country",
                      "seller_vat_id", "tax", "reverse_charge")
    } == {
        "buyer_name": "Acme Compute GmbH",
        "buyer_address": "Hauptstraße 1\n3. OG\n10115 Berlin\nGermany",
        "buyer_country": "DE", "buyer_vat_id": "DE123456789",
        "buyer_email": "billing@acme.example", "seller_name": "GPU Market Europe Ltd",
        "seller_address": "2 Dock Road\nDublin 1\nD01 K2X3\nIreland", "seller_country": "IE",
        "seller_vat_id": "IE9876543W", "tax": D("0.00"), "reverse_charge": True,
    }  # fmt: skip


NEW_FROZEN_VALUES = {
    "tax_rate": D("19.00"), "tax_note": "changed", "reverse_charge": False,
    "buyer_name": "changed", "buyer_address": "changed", "buyer_country": "FR",
    "buyer_vat_id": "FR00000000000", "buyer_email": "x@example.com", "seller_name": "changed",
    "seller_address": "changed", "seller_country": "DE", "seller_vat_id": "DE000000000",
}  # fmt: skip


def test_every_new_field_is_frozen_by_the_model_list_and_by_the_trigger():
    assert set(NEW_FROZEN_VALUES) <= set(FROZEN_INVOICE_FIELDS)
    invoice = _finalised(REVERSE_CHARGE)
    for field, value in NEW_FROZEN_VALUES.items():
        refused = pytest.raises(IntegrityError, match="finalised and cannot be changed")
        with refused, transaction.atomic():
            Invoice.objects.filter(pk=invoice.pk).update(**{field: value})
    # while what it still owes may change (a payment)
    Invoice.objects.filter(pk=invoice.pk).update(amount_due=0, status=InvoiceStatus.PAID)


def test_the_period_close_applies_the_tax_too():
    org = OrganizationFactory()
    billing_profile_put(org=org, data=DOMESTIC)
    _september_draft(org)
    [invoice] = billing_period_close(period=SEPTEMBER, now=OCTOBER + timedelta(hours=2))
    assert _figures(invoice)[:4] == (D("100.00"), D("23.00"), D("23.00"), D("123.00"))


def test_the_api_and_the_invoices_csv_show_the_tax_and_the_buyer(api_client):
    # given finance of a German business whose September invoice was reverse-charged
    finance = make_org_with_key(role="finance")
    billing_profile_put(org=finance.org, data=REVERSE_CHARGE)
    draft = _september_draft(finance.org)
    # when a draft is read, it carries no tax yet
    body = api_client.get(f"/api/v1/invoices/{draft.pk}/", **finance.headers).json()
    assert (body["tax_rate"], body["tax"], body["tax_note"], body["buyer_name"]) == (
        "0.00", "0.00", "", ""
    )  # fmt: skip
    # when it is finalised through the API
    response = api_client.post(f"/api/v1/invoices/{draft.pk}/finalize/", **finance.headers)
    body = response.json()
    assert {k: body[k] for k in ("subtotal", "tax_rate", "tax", "total", "amount_due",
                                 "reverse_charge", "tax_note", "buyer_name", "buyer_country",
                                 "buyer_vat_id", "buyer_email", "seller_name",
                                 "seller_vat_id", "seller_country")} == {
        "subtotal": "100.00", "tax_rate": "0.00", "tax": "0.00", "total": "100.00",
        "amount_due": "100.00", "reverse_charge": True, "tax_note": REVERSE_CHARGE_NOTE,
        "buyer_name": "Acme Compute GmbH", "buyer_country": "DE", "buyer_vat_id": "DE123456789",
        "buyer_email": "billing@acme.example", "seller_name": "GPU Market Europe Ltd",
        "seller_vat_id": "IE9876543W", "seller_country": "IE",
    }  # fmt: skip
    assert body["buyer_address"] == "Hauptstraße 1\n3. OG\n10115 Berlin\nGermany"
    # and the month's invoices CSV has the same
    export = api_client.get("/api/v1/exports/invoices.csv", {"period": "2026-09"},
                            **finance.headers)  # fmt: skip
    [row] = list(csv.DictReader(io.StringIO(export.content.decode())))
    assert {k: row[k] for k in ("tax", "total", "tax_rate", "reverse_charge", "tax_note",
                                "buyer_name", "buyer_country", "buyer_vat_id")} == {
        "tax": "0.00", "total": "100.00", "tax_rate": "0.00", "reverse_charge": "true",
        "tax_note": REVERSE_CHARGE_NOTE, "buyer_name": "Acme Compute GmbH",
        "buyer_country": "DE", "buyer_vat_id": "DE123456789",
    }  # fmt: skip


# --- the PDF -------------------------------------------------------------------------------


def _pdf_text(api_client, invoice: Invoice) -> str:
    caller = make_org_with_key(role="finance", org=invoice.org)
    response = api_client.get(f"/api/v1/invoices/{invoice.pk}/pdf/", **caller.headers)
    assert response.status_code == 200, response.content[:300]
    pages = PdfReader(io.BytesIO(response.content)).pages
    return re.sub(r"[ \t]+", " ", "\n".join(page.extract_text() for page in pages))


def _assert_in(text: str, expected: list[str]) -> None:
    missing = [item for item in expected if item not in text]
    assert not missing, (missing, text)


SELLER_ON_PDF = [
    "Seller", "GPU Market Europe Ltd", "2 Dock Road", "Dublin 1", "D01 K2X3", "Ireland",
    "VAT ID: IE9876543W",
]  # fmt: skip
ISSUE = [
    "Invoice GM-2026-000001", "Issue date: 2026-10-01", "Billing period: 2026-09-01 to 2026-09-30",
    "Service period", "2026-09-01 to 2026-09-30", "27.777778 hours", "3.600000/hour",
    "Unit prices and amounts exclude VAT", "Subtotal excl. VAT 100.00 USD",
]  # fmt: skip


def test_the_pdf_of_a_domestic_invoice(api_client):
    text = _pdf_text(api_client, _finalised(DOMESTIC))
    _assert_in(text, ISSUE + SELLER_ON_PDF + [
        "Bill to", "Dublin Compute Ltd", "1 Grand Canal Quay", "D02 X123 Dublin",
        "VAT ID: IE1234567T", "VAT 23 % 23.00 USD", "Total 123.00 USD", "Amount due 123.00 USD",
    ])  # fmt: skip
    assert "Reverse charge" not in text and "Outside the scope" not in text


def test_the_pdf_of_a_reverse_charged_invoice(api_client):
    text = _pdf_text(api_client, _finalised(REVERSE_CHARGE))
    _assert_in(text, ISSUE + SELLER_ON_PDF + [
        "Acme Compute GmbH", "Hauptstraße 1", "3. OG", "10115 Berlin", "Germany",
        "VAT ID: DE123456789", "VAT 0 % 0.00 USD", "Total 100.00 USD",
    ])  # fmt: skip
    # the note may wrap across lines in the PDF
    assert REVERSE_CHARGE_NOTE in " ".join(text.split()), text


def test_the_pdf_of_an_invoice_to_a_buyer_outside_the_eu(api_client):
    text = _pdf_text(api_client, _finalised(NON_EU))
    _assert_in(text, ISSUE + SELLER_ON_PDF + [
        "Zeta Labs Inc.", "500 Market St", "94105 San Francisco", "United States",
        "VAT 0 % 0.00 USD", "Total 100.00 USD", OUTSIDE_SCOPE_NOTE,
    ])  # fmt: skip
    assert text.count("VAT ID:") == 1  # the seller's only: the buyer gave none


def test_a_drafts_pdf_shows_the_parties_as_now_and_leaves_the_tax_to_finalisation(api_client):
    org = OrganizationFactory()
    billing_profile_put(org=org, data=REVERSE_CHARGE)
    text = _pdf_text(api_client, _september_draft(org))
    _assert_in(text, SELLER_ON_PDF + [
        "DRAFT", "Acme Compute GmbH", "VAT ID: DE123456789",
        "VAT (decided at finalisation) 0.00 USD", "Total 100.00 USD",
    ])  # fmt: skip
    assert "Reverse charge" not in text
