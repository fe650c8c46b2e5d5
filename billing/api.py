"""Finance API: invoices, finalising a draft, an invoice as PDF or CSV, and the month's
exports (invoices, invoice lines, FOCUS)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.actors import actor_for_request
from billing.downloads import (
    invoice_csv_response,
    invoice_pdf_response,
    period_export_response,
)
from billing.models import InvoiceLineKind, InvoiceStatus
from billing.periods import required_period
from billing.selectors import NEWEST_PERIOD_FIRST, invoice_for_org, invoices_for_org
from billing.services.finalisation import invoice_finalize
from common.api.pagination import PAGE_PARAMETERS, page_params, paginate
from common.api.serializers import DecimalString, page_serializer, with_errors


class InvoiceLineOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=InvoiceLineKind.values)
    reservation = serializers.IntegerField(source="reservation_id")
    service_period_start = serializers.DateTimeField(
        help_text="The month the usage happened in (earlier than the invoice's for an adjustment)."
    )
    description = serializers.CharField()
    quantity = DecimalString(help_text="Hours, to 6 places; the amount is priced on the seconds.")
    unit = serializers.CharField()
    unit_price = DecimalString(source="price_per_hour", help_text="Per hour.")
    seconds = serializers.IntegerField()
    price_per_hour = DecimalString()
    amount = DecimalString()


class InvoiceOutput(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField(allow_null=True, help_text="GM-YYYY-NNNNNN; null while a draft.")
    status = serializers.ChoiceField(choices=InvoiceStatus.values)
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField(help_text="Exclusive: the period is [start, end).")
    issued_at = serializers.DateTimeField(allow_null=True)
    due_at = serializers.DateTimeField(allow_null=True)
    currency = serializers.CharField()
    subtotal = DecimalString()
    tax = DecimalString()
    total = DecimalString()
    amount_due = DecimalString()
    lines = InvoiceLineOutput(many=True)


def _actor(request):
    actor = actor_for_request(request)
    actor.require("billing")
    return actor


class InvoiceListApi(APIView):
    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses=with_errors(page_serializer(InvoiceOutput)),
        operation_id="invoices_list",
    )
    def get(self, request):
        invoices = invoices_for_org(org=_actor(request).org)
        limit, cursor = page_params(request.query_params)
        page = paginate(invoices, keyset=NEWEST_PERIOD_FIRST, limit=limit, cursor=cursor)
        return Response(page_serializer(InvoiceOutput)(page).data)


class InvoiceDetailApi(APIView):
    @extend_schema(responses=with_errors(InvoiceOutput))
    def get(self, request, invoice_id: int):
        return Response(
            InvoiceOutput(invoice_for_org(org=_actor(request).org, invoice_id=invoice_id)).data
        )


class InvoiceFinalizeApi(APIView):
    @extend_schema(request=None, responses=with_errors(InvoiceOutput, 409))
    def post(self, request, invoice_id: int):
        invoice = invoice_for_org(org=_actor(request).org, invoice_id=invoice_id)
        invoice_finalize(invoice_id=invoice.pk)
        return Response(InvoiceOutput(invoice_for_org(org=invoice.org, invoice_id=invoice.pk)).data)


class InvoiceCsvApi(APIView):
    @extend_schema(responses=with_errors({(200, "text/csv"): str}))
    def get(self, request, invoice_id: int):
        return invoice_csv_response(invoice_for_org(org=_actor(request).org, invoice_id=invoice_id))


class InvoicePdfApi(APIView):
    @extend_schema(responses=with_errors({(200, "application/pdf"): bytes}))
    def get(self, request, invoice_id: int):
        return invoice_pdf_response(invoice_for_org(org=_actor(request).org, invoice_id=invoice_id))


PERIOD_PARAMETER = OpenApiParameter(
    "period", str, required=True, description="The month, YYYY-MM (UTC).", pattern=r"^\d{4}-\d{2}$"
)


class _MonthExportApi(APIView):
    """A CSV of the caller's organization's invoices of one month, drafts included."""

    name: str

    @extend_schema(parameters=[PERIOD_PARAMETER], responses=with_errors({(200, "text/csv"): str}))
    def get(self, request):
        org, period = _actor(request).org, required_period(request.query_params.get("period"))
        return period_export_response(org=org, name=self.name, period=period)


class InvoicesExportApi(_MonthExportApi):
    name = "invoices"


class InvoiceLinesExportApi(_MonthExportApi):
    name = "invoice-lines"


class FocusExportApi(_MonthExportApi):
    name = "focus"
