"""Finance API: the billing profile, invoices, finalising and voiding one, credit notes, an
invoice or credit note as PDF (and an invoice as CSV), and the month's exports (invoices,
invoice lines, FOCUS)."""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.actors import actor_for_request
from billing.downloads import (
    credit_note_pdf_response,
    invoice_csv_response,
    invoice_pdf_response,
    period_export_response,
)
from billing.models import ChargeComponent, InvoiceLineKind, InvoiceStatus
from billing.periods import required_period
from billing.selectors import (
    NEWEST_PERIOD_FIRST,
    billing_profile_for_org,
    credit_note_for_org,
    credit_notes_for_org,
    invoice_for_org,
    invoices_for_org,
)
from billing.services.credit_notes import CreditRequest, credit_note_issue, invoice_void
from billing.services.finalisation import invoice_finalize
from billing.services.profiles import BillingProfileData, billing_profile_put
from common.api.pagination import NEWEST_FIRST, PAGE_PARAMETERS, page_params, paginate
from common.api.serializers import DecimalString, StrictSerializer, page_serializer, with_errors
from common.errors import DomainError


class InvoiceLineOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=InvoiceLineKind.values)
    component = serializers.ChoiceField(
        choices=ChargeComponent.values,
        help_text="What it charges for; the kind is the component, or adjustment when late.",
    )
    reservation = serializers.IntegerField(source="reservation_id")
    service_period_start = serializers.DateTimeField(
        help_text="The month the usage happened in (earlier than the invoice's for an adjustment)."
    )
    description = serializers.CharField()
    quantity = DecimalString(
        help_text="GB for egress; otherwise hours, to 6 places (the amount is priced on the "
        "seconds)."
    )
    unit = serializers.ChoiceField(choices=["hour", "GB"])
    unit_price = DecimalString(source="price_per_hour", help_text="Per unit.")
    seconds = serializers.IntegerField()
    gigabytes = DecimalString()
    price_per_hour = DecimalString()
    amount = DecimalString()


class CreditNoteRefOutput(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField(help_text="CN-YYYY-NNNNNN.")
    total = DecimalString()


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
    paid_at = serializers.DateTimeField(allow_null=True)
    collection_error = serializers.CharField(
        help_text="Why the last charge failed (empty once paid or before any)."
    )
    next_collection_at = serializers.DateTimeField(
        allow_null=True, help_text="When the payment method is charged next (dunning)."
    )
    tax_rate = DecimalString(help_text="Percent; decided at finalisation (0 on a draft).")
    tax_note = serializers.CharField(
        help_text="Why this rate (reverse charge, outside the scope of EU VAT...); may be empty."
    )
    reverse_charge = serializers.BooleanField()
    buyer_name = serializers.CharField(help_text="As at finalisation; empty on a draft.")
    buyer_address = serializers.CharField(help_text="Lines separated by newlines.")
    buyer_country = serializers.CharField()
    buyer_vat_id = serializers.CharField()
    buyer_email = serializers.CharField()
    seller_name = serializers.CharField()
    seller_address = serializers.CharField(help_text="Lines separated by newlines.")
    seller_country = serializers.CharField()
    seller_vat_id = serializers.CharField()
    amount_credited = DecimalString(help_text="What its credit notes took back, tax included.")
    credit_notes = CreditNoteRefOutput(many=True)
    lines = InvoiceLineOutput(many=True)


def _actor(request):
    actor = actor_for_request(request)
    actor.require("billing")
    return actor


class BillingProfileInput(StrictSerializer):
    legal_name = serializers.CharField(max_length=200)
    address_line1 = serializers.CharField(max_length=200)
    address_line2 = serializers.CharField(max_length=200, required=False, allow_blank=True)
    postal_code = serializers.CharField(max_length=20)
    city = serializers.CharField(max_length=100)
    country = serializers.CharField(help_text="ISO 3166-1 alpha-2 (IE, DE, US...).")
    vat_id = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="Normalised: upper case, no spaces, dots or dashes. In the EU, with its "
        "member state's prefix (Greece: EL).",
    )
    email = serializers.EmailField()


class BillingProfileOutput(serializers.Serializer):
    org = serializers.IntegerField(source="org_id")
    legal_name = serializers.CharField()
    address_line1 = serializers.CharField()
    address_line2 = serializers.CharField()
    postal_code = serializers.CharField()
    city = serializers.CharField()
    country = serializers.CharField()
    vat_id = serializers.CharField()
    email = serializers.CharField()
    updated_at = serializers.DateTimeField()


def _org_actor(request, org_id: int):
    """The caller acting for organization `org_id` with the billing permission. An
    organization the caller does not belong to is not found: its existence is not told."""
    try:
        actor = actor_for_request(request, org_hint=org_id)
    except DomainError as error:
        if error.code != "permission_denied":
            raise
        raise DomainError("not_found", f"Organization {org_id} does not exist.") from None
    actor.require("billing")
    return actor


class BillingProfileApi(APIView):
    @extend_schema(responses=with_errors(BillingProfileOutput))
    def get(self, request, org_id: int):
        profile = billing_profile_for_org(org=_org_actor(request, org_id).org)
        return Response(BillingProfileOutput(profile).data)

    @extend_schema(request=BillingProfileInput, responses=with_errors(BillingProfileOutput))
    def put(self, request, org_id: int):
        org = _org_actor(request, org_id).org
        serializer = BillingProfileInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = BillingProfileData(**serializer.validated_data)
        return Response(BillingProfileOutput(billing_profile_put(org=org, data=data)).data)


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


class InvoiceVoidApi(APIView):
    @extend_schema(request=None, responses=with_errors(InvoiceOutput, 409))
    def post(self, request, invoice_id: int):
        invoice = invoice_for_org(org=_actor(request).org, invoice_id=invoice_id)
        invoice_void(invoice_id=invoice.pk)
        return Response(InvoiceOutput(invoice_for_org(org=invoice.org, invoice_id=invoice.pk)).data)


class CreditNoteLineInput(StrictSerializer):
    line = serializers.IntegerField(min_value=1, max_value=2**63 - 1, help_text="Invoice line id.")
    amount = serializers.DecimalField(
        max_digits=16, decimal_places=2, min_value=Decimal("0.01"), help_text="Before tax."
    )


class CreditNoteInput(StrictSerializer):
    reason = serializers.CharField(max_length=500)
    lines = CreditNoteLineInput(many=True, required=False, allow_empty=False)
    amount = serializers.DecimalField(
        max_digits=16,
        decimal_places=2,
        min_value=Decimal("0.01"),
        required=False,
        help_text="Before tax, spread over the lines in proportion to what each has left.",
    )

    def validate(self, data):
        if ("lines" in data) == ("amount" in data):
            raise serializers.ValidationError("Give either lines or amount, not both.")
        return data


class CreditNoteLineOutput(serializers.Serializer):
    id = serializers.IntegerField()
    invoice_line = serializers.IntegerField(source="invoice_line_id")
    reservation = serializers.IntegerField(source="invoice_line.reservation_id")
    description = serializers.CharField()
    amount = DecimalString(help_text="Before tax.")


class CreditNoteOutput(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField(help_text="CN-YYYY-NNNNNN, gapless.")
    invoice = serializers.IntegerField(source="invoice_id")
    invoice_number = serializers.CharField(source="invoice.number")
    currency = serializers.CharField()
    reason = serializers.CharField()
    issued_at = serializers.DateTimeField()
    subtotal = DecimalString()
    tax = DecimalString(help_text="At the invoice's rate (its tax / subtotal).")
    total = DecimalString()
    lines = CreditNoteLineOutput(many=True)


class InvoiceCreditNotesApi(APIView):
    @extend_schema(
        request=CreditNoteInput,
        responses=with_errors({201: CreditNoteOutput}, 409),
        operation_id="invoices_credit_notes_create",
    )
    def post(self, request, invoice_id: int):
        invoice = invoice_for_org(org=_actor(request).org, invoice_id=invoice_id)
        body = CreditNoteInput(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        note = credit_note_issue(
            invoice_id=invoice.pk,
            request=CreditRequest(
                reason=data["reason"],
                lines=[(line["line"], line["amount"]) for line in data.get("lines", ())],
                amount=data.get("amount"),
            ),
        )
        note = credit_note_for_org(org=invoice.org, credit_note_id=note.pk)
        return Response(CreditNoteOutput(note).data, status=status.HTTP_201_CREATED)


class CreditNoteListApi(APIView):
    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses=with_errors(page_serializer(CreditNoteOutput)),
        operation_id="credit_notes_list",
    )
    def get(self, request):
        notes = credit_notes_for_org(org=_actor(request).org)
        limit, cursor = page_params(request.query_params)
        page = paginate(notes, keyset=NEWEST_FIRST, limit=limit, cursor=cursor)
        return Response(page_serializer(CreditNoteOutput)(page).data)


class CreditNoteDetailApi(APIView):
    @extend_schema(responses=with_errors(CreditNoteOutput))
    def get(self, request, credit_note_id: int):
        note = credit_note_for_org(org=_actor(request).org, credit_note_id=credit_note_id)
        return Response(CreditNoteOutput(note).data)


class CreditNotePdfApi(APIView):
    @extend_schema(responses=with_errors({(200, "application/pdf"): bytes}))
    def get(self, request, credit_note_id: int):
        return credit_note_pdf_response(
            credit_note_for_org(org=_actor(request).org, credit_note_id=credit_note_id)
        )


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
