"""Finance API: invoices and their CSV export."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.actors import actor_for_request
from billing.selectors import NEWEST_PERIOD_FIRST, invoice_for_org, invoices_for_org
from billing.services.invoices import invoice_csv
from common.api.pagination import PAGE_PARAMETERS, page_params, paginate
from common.api.serializers import page_serializer, with_errors


class InvoiceLineOutput(serializers.Serializer):
    id = serializers.IntegerField()
    reservation = serializers.IntegerField(source="reservation_id")
    description = serializers.CharField()
    seconds = serializers.IntegerField()
    price_per_hour = serializers.DecimalField(max_digits=14, decimal_places=6)
    amount = serializers.DecimalField(max_digits=16, decimal_places=2)


class InvoiceOutput(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField(allow_null=True, help_text="Null while a draft.")
    status = serializers.CharField()
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    currency = serializers.CharField()
    total = serializers.DecimalField(max_digits=16, decimal_places=2)
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


class InvoiceCsvApi(APIView):
    @extend_schema(responses={(200, "text/csv"): str})
    def get(self, request, invoice_id: int):
        invoice = invoice_for_org(org=_actor(request).org, invoice_id=invoice_id)
        response = HttpResponse(
            invoice_csv(invoice=invoice), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = (
            f'attachment; filename="invoice-{invoice.number or invoice.pk}.csv"'
        )
        return response
