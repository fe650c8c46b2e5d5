"""The month's CSV exports (invoices, invoice lines, FOCUS) and the one-invoice CSV."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal

import pytest

from billing.models import Invoice
from billing.tests.conftest import OCTOBER, PRICE, SEPTEMBER, cents, hours
from tests.factories import make_org_with_key

pytestmark = pytest.mark.django_db

EXPORTS = "/api/v1/exports/"


def _rows(response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_it_exports_the_months_invoices_of_the_callers_organization_only(api_client, filed):
    # when finance exports September
    response = api_client.get(
        EXPORTS + "invoices.csv", {"period": "2026-09"}, **filed.finance.headers
    )
    # then the one filed invoice comes, with its figures as stored and times in UTC
    assert response["Content-Disposition"] == 'attachment; filename="invoices-2026-09.csv"'
    total = str(cents(100) + cents(40))
    assert _rows(response) == [
        {
            "invoice_id": str(filed.september.pk), "invoice_number": "GM-2026-000001",
            "status": "open", "issued_at": "2026-10-01T02:00:00Z",
            "due_at": "2026-10-15T02:00:00Z", "period_start": "2026-09-01T00:00:00Z",
            "period_end": "2026-10-01T00:00:00Z", "currency": "USD", "subtotal": total,
            "tax": "0.00", "total": total, "amount_due": total, "tax_rate": "0.00",
            "reverse_charge": "false",
            "tax_note": "No VAT charged: the seller (US) is not established in the EU",
            "buyer_name": "Zürich Σ 東京", "buyer_country": "", "buyer_vat_id": "",
        }
    ]  # fmt: skip
    assert total == "0.14"


def test_it_exports_a_drafts_lines_with_the_late_usage_as_an_adjustment(api_client, filed):
    # when finance exports October's lines (October is still a draft)
    rows = _rows(
        api_client.get(
            EXPORTS + "invoice-lines.csv", {"period": "2026-10"}, **filed.finance.headers
        )
    )
    # then September's lost 20 s come as an adjustment beside October's 100 s
    lines = list(filed.october.lines.order_by("id"))
    assert [
        {k: row[k] for k in ("invoice_number", "invoice_status", "line_id", "kind", "reservation",
                             "service_period_start", "service_period_end", "quantity", "unit",
                             "unit_price", "amount", "currency")}
        for row in sorted(rows, key=lambda r: r["service_period_start"])
    ] == [
        {"invoice_number": "", "invoice_status": "draft", "line_id": str(lines_of(lines, SEPTEMBER)),
         "kind": "adjustment", "reservation": str(filed.late.pk),
         "service_period_start": "2026-09-01T00:00:00Z", "service_period_end": "2026-10-01T00:00:00Z",
         "quantity": hours(20), "unit": "hour", "unit_price": str(PRICE),
         "amount": str(cents(60) - cents(40)), "currency": "USD"},
        {"invoice_number": "", "invoice_status": "draft", "line_id": str(lines_of(lines, OCTOBER)),
         "kind": "compute", "reservation": str(filed.late.pk),
         "service_period_start": "2026-10-01T00:00:00Z", "service_period_end": "2026-11-01T00:00:00Z",
         "quantity": hours(100), "unit": "hour", "unit_price": str(PRICE),
         "amount": str(cents(100)), "currency": "USD"},
    ]  # fmt: skip
    assert [row["invoice_id"] for row in rows] == [str(filed.october.pk)] * 2
    assert all(row["description"].startswith(f"Reservation {filed.late.pk}, ") for row in rows)


def lines_of(lines, service_period) -> int:
    return next(line.pk for line in lines if line.service_period_start == service_period)


@pytest.mark.parametrize("kind", ["invoices.csv", "invoice-lines.csv", "focus.csv"])
def test_a_month_without_invoices_is_a_header_only(api_client, filed, kind):
    response = api_client.get(EXPORTS + kind, {"period": "2026-08"}, **filed.finance.headers)
    assert len(response.content.decode().splitlines()) == 1
    assert _rows(response) == []


@pytest.mark.parametrize(
    "params", [{}, {"period": ""}, {"period": "2026-13"}, {"period": "2026-9"},
               {"period": "0000-01"}, {"period": "99999-01"}, {"period": "2026-09-01"},
               {"period": "septembre"}],
)  # fmt: skip
@pytest.mark.parametrize("kind", ["invoices.csv", "invoice-lines.csv", "focus.csv"])
def test_a_missing_or_malformed_period_is_a_400(api_client, params, kind):
    finance = make_org_with_key(role="finance")
    response = api_client.get(EXPORTS + kind, params, **finance.headers)
    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_period")


@pytest.mark.parametrize("kind", ["invoices.csv", "invoice-lines.csv", "focus.csv"])
def test_buyers_cannot_export(api_client, kind):
    buyer = make_org_with_key(role="buyer")
    response = api_client.get(EXPORTS + kind, {"period": "2026-09"}, **buyer.headers)
    assert (response.status_code, response.json()["error"]["code"]) == (403, "permission_denied")


def test_the_invoice_csv_keeps_its_columns(api_client, filed):
    response = api_client.get(
        f"/api/v1/invoices/{filed.september.pk}/csv/", **filed.finance.headers
    )
    rows = _rows(response)
    assert response["Content-Disposition"] == 'attachment; filename="invoice-GM-2026-000001.csv"'
    assert list(rows[0]) == [
        "invoice", "period_start", "period_end", "currency", "line", "reservation",
        "description", "seconds", "price_per_hour", "amount",
    ]  # fmt: skip
    assert sorted((r["invoice"], r["seconds"], r["amount"]) for r in rows) == [
        ("GM-2026-000001", "100", str(cents(100))),
        ("GM-2026-000001", "40", str(cents(40))),
    ]
    assert rows[0]["period_start"] == "2026-09-01T00:00:00+00:00"


@pytest.mark.parametrize("suffix", ["csv/", "pdf/"])
def test_another_organizations_or_an_absurd_invoice_id_is_a_404(api_client, filed, suffix):
    for invoice_id in (filed.other_org_invoice.pk, 2**31, 2**63, 10**30):
        response = api_client.get(
            f"/api/v1/invoices/{invoice_id}/{suffix}", **filed.finance.headers
        )
        assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")


# --- FOCUS ----------------------------------------------------------------------------------

# FOCUS 1.2's columns: their type and whether the specification lets them be null. The
# conditional columns are nullable; the mandatory ones below may not be null.
DECIMAL = {"BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "ListUnitPrice",
           "ContractedUnitPrice", "PricingQuantity", "ConsumedQuantity",
           "CommitmentDiscountQuantity", "PricingCurrencyContractedUnitPrice",
           "PricingCurrencyEffectiveCost", "PricingCurrencyListUnitPrice"}  # fmt: skip
DATETIME = {"BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd"}
NOT_NULL = {"BilledCost", "BillingAccountId", "BillingCurrency", "BillingPeriodEnd",
            "BillingPeriodStart", "ChargeCategory", "ChargePeriodEnd", "ChargePeriodStart",
            "ContractedCost", "EffectiveCost", "InvoiceIssuerName", "ListCost", "ProviderName",
            "PublisherName", "ServiceCategory", "ServiceName"}  # fmt: skip
ALLOWED = {
    "ChargeCategory": {"Usage", "Purchase", "Tax", "Credit", "Adjustment"},
    "ChargeClass": {"", "Correction"},
    "ChargeFrequency": {"One-Time", "Recurring", "Usage-Based"},
    "PricingCategory": {"", "Standard", "Dynamic", "Committed", "Other"},
    "ServiceCategory": {"AI and Machine Learning", "Analytics", "Business Applications",
                        "Compute", "Databases", "Developer Tools", "Multicloud",
                        "Identity", "Integration", "Internet of Things", "Management and Governance",
                        "Media", "Migration", "Mobile", "Networking", "Security", "Storage",
                        "Web", "Other"},
}  # fmt: skip
FOCUS_1_2_COLUMNS = [
    "AvailabilityZone", "BilledCost", "BillingAccountId", "BillingAccountName",
    "BillingAccountType", "BillingCurrency", "BillingPeriodEnd", "BillingPeriodStart",
    "CapacityReservationId", "CapacityReservationStatus", "ChargeCategory", "ChargeClass",
    "ChargeDescription", "ChargeFrequency", "ChargePeriodEnd", "ChargePeriodStart",
    "CommitmentDiscountCategory", "CommitmentDiscountId", "CommitmentDiscountName",
    "CommitmentDiscountQuantity", "CommitmentDiscountStatus", "CommitmentDiscountType",
    "CommitmentDiscountUnit", "ConsumedQuantity", "ConsumedUnit", "ContractedCost",
    "ContractedUnitPrice", "EffectiveCost", "InvoiceId", "InvoiceIssuerName", "ListCost",
    "ListUnitPrice", "PricingCategory", "PricingCurrency", "PricingCurrencyContractedUnitPrice",
    "PricingCurrencyEffectiveCost", "PricingCurrencyListUnitPrice", "PricingQuantity",
    "PricingUnit", "ProviderName", "PublisherName", "RegionId", "RegionName", "ResourceId",
    "ResourceName", "ResourceType", "ServiceCategory", "ServiceName", "ServiceSubcategory",
    "SkuId", "SkuMeter", "SkuPriceDetails", "SkuPriceId", "SubAccountId", "SubAccountName",
    "SubAccountType", "Tags",
]  # fmt: skip
UTC_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


def _assert_focus_conformant(response) -> list[dict[str, str]]:
    header = next(csv.reader(io.StringIO(response.content.decode())))
    assert header == FOCUS_1_2_COLUMNS
    rows = _rows(response)
    for row in rows:
        assert {c for c in NOT_NULL if row[c] == ""} == set(), row
        for column in DECIMAL:
            if row[column]:
                assert Decimal(row[column]).is_finite(), (column, row[column])
        for column in DATETIME:
            assert UTC_DATETIME.fullmatch(row[column]), (column, row[column])
        for column, allowed in ALLOWED.items():
            assert row[column] in allowed, (column, row[column])
        assert re.fullmatch(r"[A-Z]{3}", row["BillingCurrency"])
        assert row["ChargePeriodStart"] < row["ChargePeriodEnd"]
        assert row["BillingPeriodStart"] < row["BillingPeriodEnd"]
        # usage is metered in a unit; other charges consume nothing
        if row["ChargeCategory"] == "Usage":
            assert (row["ConsumedQuantity"] != "", row["ConsumedUnit"]) == (True, "Hours")
            assert row["ChargeClass"] == "" and row["PricingCategory"] != ""
        else:
            assert (row["ConsumedQuantity"], row["ConsumedUnit"]) == ("", "")
    return rows


def test_the_focus_export_of_a_filed_month(api_client, filed):
    # when finance exports September as FOCUS
    response = api_client.get(EXPORTS + "focus.csv", {"period": "2026-09"}, **filed.finance.headers)
    # then it conforms, has a row per line, and its billed cost adds up to the invoice's total
    rows = _assert_focus_conformant(response)
    assert response["Content-Disposition"] == 'attachment; filename="focus-2026-09.csv"'
    assert sorted((r["ResourceId"], r["BilledCost"], r["PricingQuantity"]) for r in rows) == sorted(
        [(str(filed.first.pk), str(cents(100)), hours(100)),
         (str(filed.late.pk), str(cents(40)), hours(40))]
    )  # fmt: skip
    assert sum(Decimal(r["BilledCost"]) for r in rows) == filed.september.total == Decimal("0.14")
    first = next(r for r in rows if r["ResourceId"] == str(filed.first.pk))
    assert {k: first[k] for k in (
        "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodStart",
        "BillingPeriodEnd", "ChargeCategory", "ChargeClass", "ChargePeriodStart",
        "ChargePeriodEnd", "ChargeFrequency", "EffectiveCost", "ListCost", "ContractedCost",
        "ListUnitPrice", "ContractedUnitPrice", "ConsumedUnit", "PricingUnit", "InvoiceId",
        "InvoiceIssuerName", "ProviderName", "PublisherName", "RegionId", "AvailabilityZone",
        "ServiceCategory", "SkuId", "PricingCategory",
    )} == {
        "BillingAccountId": str(filed.finance.org.pk), "BillingAccountName": "Zürich Σ 東京",
        "BillingCurrency": "USD", "BillingPeriodStart": "2026-09-01T00:00:00Z",
        "BillingPeriodEnd": "2026-10-01T00:00:00Z", "ChargeCategory": "Usage", "ChargeClass": "",
        "ChargePeriodStart": "2026-09-01T00:00:00Z", "ChargePeriodEnd": "2026-10-01T00:00:00Z",
        "ChargeFrequency": "Usage-Based", "EffectiveCost": str(cents(100)),
        "ListCost": str(cents(100)), "ContractedCost": str(cents(100)),
        "ListUnitPrice": str(PRICE), "ContractedUnitPrice": str(PRICE), "ConsumedUnit": "Hours",
        "PricingUnit": "Hours", "InvoiceId": "GM-2026-000001", "InvoiceIssuerName": "GPU Market",
        "ProviderName": "GPU Market", "PublisherName": "Simulated Cloud",
        "RegionId": "sim-eu-west-1", "AvailabilityZone": "sim-eu-west-1a",
        "ServiceCategory": "Compute", "SkuId": "h100.1x", "PricingCategory": "Standard",
    }  # fmt: skip


def test_the_focus_export_of_a_running_month_marks_late_usage_as_a_correction(api_client, filed):
    # when finance exports October (a draft, with September's late 20 s)
    response = api_client.get(EXPORTS + "focus.csv", {"period": "2026-10"}, **filed.finance.headers)
    rows = sorted(_assert_focus_conformant(response), key=lambda r: r["ChargePeriodStart"])
    # then the adjustment corrects September, and neither row has an invoice id yet
    assert [
        (r["ChargeCategory"], r["ChargeClass"], r["ChargePeriodStart"], r["BillingPeriodStart"],
         r["BilledCost"], r["ConsumedQuantity"], r["InvoiceId"])
        for r in rows
    ] == [
        ("Adjustment", "Correction", "2026-09-01T00:00:00Z", "2026-10-01T00:00:00Z",
         str(cents(60) - cents(40)), "", ""),
        ("Usage", "", "2026-10-01T00:00:00Z", "2026-10-01T00:00:00Z", str(cents(100)),
         hours(100), ""),
    ]  # fmt: skip


def test_a_void_invoice_charges_nothing_in_focus(api_client, filed):
    Invoice.objects.filter(pk=filed.september.pk).update(status="void")
    response = api_client.get(EXPORTS + "focus.csv", {"period": "2026-09"}, **filed.finance.headers)
    assert _assert_focus_conformant(response) == []


def test_the_focus_export_takes_a_fixed_number_of_queries(
    api_client, filed, django_assert_max_num_queries
):
    # the lines come prefetched with their reservations, offers and providers: two months
    # with two lines each take as many queries as one line would
    for period in ("2026-09", "2026-10"):
        with django_assert_max_num_queries(QUERIES):
            response = api_client.get(
                EXPORTS + "focus.csv", {"period": period}, **filed.finance.headers
            )
        assert len(_rows(response)) == 2


# the API key with its organization (and, once a minute, its last use), the invoices, and their
# lines with their reservations, offers and providers
QUERIES = 4
