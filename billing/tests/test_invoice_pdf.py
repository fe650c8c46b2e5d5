"""An invoice as a PDF: what an EU VAT invoice shows, a draft marked as no invoice, any
organization name, and the invoices page's links."""

from __future__ import annotations

import io
import re

import pytest
from pypdf import PdfReader

from billing.tests.conftest import PRICE, cents, hours

pytestmark = pytest.mark.django_db


def _text(response) -> str:
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"] == "application/pdf"
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    return re.sub(r"[ \t]+", " ", text)


@pytest.fixture
def seller(settings):
    settings.PLATFORM_LEGAL_NAME = "GPU Market Europe GmbH"
    settings.PLATFORM_ADDRESS = "Hauptstraße 1; 10115 Berlin; Germany"
    settings.PLATFORM_VAT_ID = "DE123456789"


def test_a_finalised_invoice_shows_what_a_vat_invoice_needs(api_client, seller, filed):
    # given the platform's legal details when September was finalised (the seller fixture
    # runs before filed's)
    # when finance downloads September's invoice
    response = api_client.get(
        f"/api/v1/invoices/{filed.september.pk}/pdf/", **filed.finance.headers
    )
    text = _text(response)
    # then it carries number, dates, seller, buyer, period, each line and the totals
    assert response["Content-Disposition"] == 'attachment; filename="invoice-GM-2026-000001.pdf"'
    for expected in (
        "Invoice GM-2026-000001", "Issue date: 2026-10-01", "Due date: 2026-10-15",
        "GPU Market Europe GmbH", "Hauptstraße 1", "10115 Berlin", "VAT ID: DE123456789",
        "Zürich Σ ??",  # no glyph for the Chinese characters in the shipped font
        "Billing period: 2026-09-01 to 2026-09-30", "Currency: USD",
        f"{hours(100)} hours", f"{hours(40)} hours", f"{PRICE}/hour",
        f"Subtotal excl. VAT {cents(140)} USD", "VAT 0 % 0.00 USD", f"Total {cents(140)} USD",
        f"Amount due {cents(140)} USD",
    ):  # fmt: skip
        assert expected in text, (expected, text)
    amounts = re.findall(r"hour (\d+\.\d{2})\b", text)
    assert sorted(amounts) == sorted([str(cents(100)), str(cents(40))]), text
    assert "DRAFT" not in text


def test_a_drafts_pdf_says_it_is_no_invoice_and_has_no_number(api_client, filed):
    response = api_client.get(f"/api/v1/invoices/{filed.october.pk}/pdf/", **filed.finance.headers)
    text = _text(response)
    assert response["Content-Disposition"] == (
        f'attachment; filename="invoice-draft-{filed.october.pk}.pdf"'
    )
    assert "DRAFT - not an invoice" in text
    assert "GM-" not in text and "Issue date" not in text
    assert f"Total {cents(120)} USD" in text  # 20 s late of September + 100 s of October
    assert "(adjustment)" in text and "(compute)" in text


def test_buyers_cannot_download_an_invoice(api_client, filed):
    from tests.factories import make_org_with_key

    buyer = make_org_with_key(role="buyer", org=filed.finance.org)
    response = api_client.get(f"/api/v1/invoices/{filed.september.pk}/pdf/", **buyer.headers)
    assert (response.status_code, response.json()["error"]["code"]) == (403, "permission_denied")


def test_the_invoices_page_links_each_invoices_pdf_and_csv(client, filed):
    # given finance signed in to the invoices page
    client.force_login(filed.finance.user)
    html = client.get("/invoices/").content.decode()
    # then each invoice has both links, and both answer its file
    for invoice in (filed.september, filed.october):
        for kind, content_type in (("pdf", "application/pdf"), ("csv", "text/csv; charset=utf-8")):
            assert f'href="/invoices/{invoice.pk}/{kind}/"' in html
            response = client.get(f"/invoices/{invoice.pk}/{kind}/")
            assert (response.status_code, response["Content-Type"]) == (200, content_type)
    assert client.get(f"/invoices/{filed.other_org_invoice.pk}/pdf/").status_code == 404
