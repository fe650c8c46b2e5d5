"""CSV exports of invoices for finance: one invoice's lines, a month's invoices, a month's
invoice lines, and a month's charges as FOCUS 1.2 (the FinOps Open Cost and Usage
Specification), all written by one CSV writer.

Decimals are written as stored (amounts to the cent, prices and hours to 6 places) and times
as ISO 8601 UTC ending in Z, except in the per-invoice export, whose columns and values stay
as they were for the programs that already read it."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import datetime

from django.conf import settings

from billing.models import ChargeComponent, Invoice, InvoiceLine, InvoiceLineKind, InvoiceStatus
from billing.periods import next_month_start
from common.time import iso_z
from marketplace.models import PricingModel

INVOICE_CSV_HEADER = [
    "invoice",
    "period_start",
    "period_end",
    "currency",
    "line",
    "reservation",
    "description",
    "seconds",
    "price_per_hour",
    "amount",
]

INVOICES_HEADER = [
    "invoice_id",
    "invoice_number",
    "status",
    "issued_at",
    "due_at",
    "period_start",
    "period_end",
    "currency",
    "subtotal",
    "tax",
    "total",
    "amount_due",
    "tax_rate",
    "reverse_charge",
    "tax_note",
    "buyer_name",
    "buyer_country",
    "buyer_vat_id",
]

INVOICE_LINES_HEADER = [
    "invoice_id",
    "invoice_number",
    "invoice_status",
    "line_id",
    "kind",
    "reservation",
    "service_period_start",
    "service_period_end",
    "description",
    "quantity",
    "unit",
    "unit_price",
    "amount",
    "currency",
]


def csv_text(header: list[str], rows: Iterable[Iterable[object]]) -> str:
    """The one CSV writer of the exports: None is an empty cell."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(["" if value is None else value for value in row] for row in rows)
    return buffer.getvalue()


def invoice_csv(*, invoice: Invoice) -> str:
    label = invoice.number or f"DRAFT-{invoice.pk}"
    rows = (
        [
            label,
            invoice.period_start.isoformat(),
            invoice.period_end.isoformat(),
            invoice.currency,
            line.pk,
            line.reservation_id,
            line.description,
            line.seconds,
            line.price_per_hour,
            line.amount,
        ]
        for line in invoice.lines.all()
    )
    return csv_text(INVOICE_CSV_HEADER, rows)


def invoices_csv(*, invoices: Iterable[Invoice]) -> str:
    rows = (
        [
            invoice.pk,
            invoice.number,
            invoice.status,
            iso_z(invoice.issued_at),
            iso_z(invoice.due_at),
            iso_z(invoice.period_start),
            iso_z(invoice.period_end),
            invoice.currency,
            invoice.subtotal,
            invoice.tax,
            invoice.total,
            invoice.amount_due,
            invoice.tax_rate,
            str(invoice.reverse_charge).lower(),
            invoice.tax_note or None,
            invoice.buyer_name or None,
            invoice.buyer_country or None,
            invoice.buyer_vat_id or None,
        ]
        for invoice in invoices
    )
    return csv_text(INVOICES_HEADER, rows)


def invoice_lines_csv(*, invoices: Iterable[Invoice]) -> str:
    rows = (
        [
            invoice.pk,
            invoice.number,
            invoice.status,
            line.pk,
            line.kind,
            line.reservation_id,
            iso_z(line.service_period_start),
            iso_z(next_month_start(line.service_period_start)),
            line.description,
            line.quantity,
            line.unit,
            line.price_per_hour,
            line.amount,
            invoice.currency,
        ]
        for invoice in invoices
        for line in invoice.lines.all()
    )
    return csv_text(INVOICE_LINES_HEADER, rows)


# --- FOCUS 1.2 -----------------------------------------------------------------------------

# Every column of FOCUS 1.2's cost and usage dataset, in the specification's order; a column
# this platform has no data for is present and empty (null), as the specification allows for
# each of them here.
FOCUS_COLUMNS = [
    "AvailabilityZone",
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingAccountType",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "CapacityReservationId",
    "CapacityReservationStatus",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "CommitmentDiscountCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountQuantity",
    "CommitmentDiscountStatus",
    "CommitmentDiscountType",
    "CommitmentDiscountUnit",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "InvoiceId",
    "InvoiceIssuerName",
    "ListCost",
    "ListUnitPrice",
    "PricingCategory",
    "PricingCurrency",
    "PricingCurrencyContractedUnitPrice",
    "PricingCurrencyEffectiveCost",
    "PricingCurrencyListUnitPrice",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceName",
    "ServiceSubcategory",
    "SkuId",
    "SkuMeter",
    "SkuPriceDetails",
    "SkuPriceId",
    "SubAccountId",
    "SubAccountName",
    "SubAccountType",
    "Tags",
]

FOCUS_PROVIDER_NAME = "GPU Market"
# FOCUS UnitFormat: a time unit plural and capitalised, a data size as its symbol.
FOCUS_UNIT = {ChargeComponent.EGRESS: "GB"}  # every other component is billed in "Hours"
# (ServiceCategory, ServiceName, ServiceSubcategory) of each component, from FOCUS 1.2's lists.
FOCUS_SERVICE = {
    ChargeComponent.DISK: ("Storage", "Block Storage", "Block Storage"),
    ChargeComponent.EGRESS: ("Networking", "Data Transfer", "Network Connectivity"),
}  # compute and start-up time are the instance's
FOCUS_COMPUTE_SERVICE = ("Compute", "GPU Compute", "Virtual Machines")
FOCUS_CATEGORY = {
    InvoiceLineKind.ADJUSTMENT: "Adjustment",
    InvoiceLineKind.CREDIT: "Credit",
}  # every other kind is metered usage
# The offer's pricing model as a FOCUS PricingCategory; an unknown one is "Other".
FOCUS_PRICING_CATEGORY = {
    PricingModel.ON_DEMAND: "Standard",
    PricingModel.SPOT: "Dynamic",
    PricingModel.RESERVED: "Committed",
}


def focus_csv(*, invoices: Iterable[Invoice]) -> str:
    """One FOCUS row per invoice line; a void invoice charges nothing and is left out."""
    rows = (
        [row[column] for column in FOCUS_COLUMNS]
        for invoice in invoices
        if invoice.status != InvoiceStatus.VOID
        for row in (_focus_row(invoice, line) for line in invoice.lines.all())
    )
    return csv_text(FOCUS_COLUMNS, rows)


def _focus_row(invoice: Invoice, line: InvoiceLine) -> dict[str, object]:
    offer = line.reservation.offer
    category = FOCUS_CATEGORY.get(line.kind, "Usage")
    usage = category == "Usage"
    unit = FOCUS_UNIT.get(line.component, "Hours")
    service, service_name, subcategory = FOCUS_SERVICE.get(line.component, FOCUS_COMPUTE_SERVICE)
    return dict.fromkeys(FOCUS_COLUMNS) | {
        **_focus_costs(line),
        **_focus_periods(invoice, line.service_period_start),
        "AvailabilityZone": offer.zone or None,
        "BillingAccountId": str(invoice.org_id),
        "BillingAccountName": invoice.org.name,
        "BillingCurrency": invoice.currency,
        "ChargeCategory": category,
        # Late usage billed on a later month's invoice corrects that closed month.
        "ChargeClass": "Correction" if line.kind == InvoiceLineKind.ADJUSTMENT else None,
        "ChargeDescription": line.description,
        "ChargeFrequency": "Usage-Based" if category != "Credit" else "One-Time",
        "ConsumedQuantity": line.quantity if usage else None,
        "ConsumedUnit": unit if usage else None,
        "InvoiceId": invoice.number,  # none until finalised: a draft is no invoice yet
        "InvoiceIssuerName": settings.PLATFORM_LEGAL_NAME,
        "PricingCategory": FOCUS_PRICING_CATEGORY.get(offer.pricing, "Other"),
        "PricingQuantity": line.quantity,
        "PricingUnit": unit,
        "ProviderName": FOCUS_PROVIDER_NAME,
        "PublisherName": offer.provider.name,
        "RegionId": offer.region or None,
        "RegionName": offer.region or None,
        "ResourceId": str(line.reservation_id),
        "ResourceName": f"Reservation {line.reservation_id}",
        "ResourceType": "GPU Reservation",
        "ServiceCategory": service,
        "ServiceName": service_name,
        "ServiceSubcategory": subcategory,
        "SkuId": offer.sku,
        "SkuPriceId": f"{offer.sku}@{line.price_per_hour}",
    }


def _focus_costs(line: InvoiceLine) -> dict[str, object]:
    """The price of a reservation is locked when it is made and no discount applies, so the
    billed, effective, contracted and list costs are one amount, at one unit price."""
    return {
        "BilledCost": line.amount,
        "EffectiveCost": line.amount,
        "ContractedCost": line.amount,
        "ListCost": line.amount,
        "ContractedUnitPrice": line.price_per_hour,
        "ListUnitPrice": line.price_per_hour,
    }


def _focus_periods(invoice: Invoice, service_period_start: datetime) -> dict[str, object]:
    """Charges are aggregated per reservation, price and month: the charge period is the
    month the usage happened in (an earlier one for an adjustment)."""
    return {
        "BillingPeriodStart": iso_z(invoice.period_start),
        "BillingPeriodEnd": iso_z(invoice.period_end),
        "ChargePeriodStart": iso_z(service_period_start),
        "ChargePeriodEnd": iso_z(next_month_start(service_period_start)),
    }
