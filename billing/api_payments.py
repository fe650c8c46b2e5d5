"""Payments API: the payment method, paying an invoice, prepaid top-ups, Stripe's webhook.

Paying and topping up charge the card while the request waits (Stripe answers in about a
second), so the caller sees `paid` or the card's refusal at once; what Stripe does not
answer in time is retried with the same idempotency key (billing.services.payments).
"""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.actors import actor_for_request
from billing.api import InvoiceOutput
from billing.api_funds import CURRENCY_PATTERN
from billing.models import ChargeStatus
from billing.selectors import invoice_for_org
from billing.selectors_funds import DEFAULT_CURRENCY
from billing.selectors_payments import payment_account_of, top_ups_for_org
from billing.services import stripe_gateway as gateway
from billing.services.audit import session_key_of
from billing.services.payments import (
    invoice_pay,
    payment_method_set,
    stripe_event_handle,
    top_up_create,
)
from common.api.pagination import NEWEST_FIRST, PAGE_PARAMETERS, page_params, paginate
from common.api.serializers import DecimalString, StrictSerializer, page_serializer, with_errors
from common.errors import DomainError

STRIPE_ID_PATTERN = r"^[A-Za-z0-9_]{3,255}$"


def _billing_actor(request):
    actor = actor_for_request(request)
    actor.require("billing")
    return actor


class PaymentMethodInput(StrictSerializer):
    payment_method = serializers.RegexField(
        STRIPE_ID_PATTERN,
        help_text="A Stripe PaymentMethod id (pm_...); in test mode e.g. pm_card_visa.",
    )


class PaymentMethodOutput(serializers.Serializer):
    payment_method = serializers.CharField(help_text="Empty while none was added.")
    brand = serializers.CharField(source="card_brand")
    last4 = serializers.CharField(source="card_last4")
    updated_at = serializers.DateTimeField(allow_null=True)


NO_PAYMENT_METHOD = {"payment_method": "", "card_brand": "", "card_last4": "", "updated_at": None}


class PaymentMethodApi(APIView):
    @extend_schema(responses=with_errors(PaymentMethodOutput))
    def get(self, request):
        account = payment_account_of(org=_billing_actor(request).org)
        return Response(PaymentMethodOutput(account or NO_PAYMENT_METHOD).data)

    @extend_schema(request=PaymentMethodInput, responses=with_errors(PaymentMethodOutput, 402, 503))
    def post(self, request):
        actor = _billing_actor(request)
        body = PaymentMethodInput(data=request.data)
        body.is_valid(raise_exception=True)
        account = payment_method_set(
            org=actor.org,
            payment_method=body.validated_data["payment_method"],
            actor=actor,
            session_key=session_key_of(request),
        )
        return Response(PaymentMethodOutput(account).data)


class InvoicePayApi(APIView):
    @extend_schema(request=None, responses=with_errors(InvoiceOutput, 402, 409, 503))
    def post(self, request, invoice_id: int):
        actor = _billing_actor(request)
        invoice = invoice_for_org(org=actor.org, invoice_id=invoice_id)
        invoice_pay(invoice=invoice, actor=actor, session_key=session_key_of(request))
        # Read again with its lines and credit notes as the invoice API shows them.
        return Response(InvoiceOutput(invoice_for_org(org=actor.org, invoice_id=invoice.pk)).data)


class TopUpInput(StrictSerializer):
    amount = serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=Decimal("1.00"), max_value=Decimal("100000")
    )
    currency = serializers.RegexField(CURRENCY_PATTERN, required=False, default=DEFAULT_CURRENCY)


class TopUpOutput(serializers.Serializer):
    id = serializers.IntegerField()
    amount = DecimalString()
    currency = serializers.CharField()
    status = serializers.ChoiceField(
        choices=ChargeStatus.values,
        help_text="succeeded: credited; pending: Stripe has not confirmed yet; failed.",
    )
    error = serializers.CharField(source="error_message")
    created_at = serializers.DateTimeField()
    credited_at = serializers.DateTimeField(allow_null=True)


class TopUpListCreateApi(APIView):
    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses=with_errors(page_serializer(TopUpOutput)),
        operation_id="billing_top_ups_list",
    )
    def get(self, request):
        top_ups = top_ups_for_org(org=_billing_actor(request).org)
        limit, cursor = page_params(request.query_params)
        page = paginate(top_ups, keyset=NEWEST_FIRST, limit=limit, cursor=cursor)
        return Response(page_serializer(TopUpOutput)(page).data)

    @extend_schema(
        request=TopUpInput,
        responses=with_errors({201: TopUpOutput, 202: TopUpOutput}, 402, 409, 503),
    )
    def post(self, request):
        actor = _billing_actor(request)
        body = TopUpInput(data=request.data)
        body.is_valid(raise_exception=True)
        top_up = top_up_create(org=actor.org, actor=actor, session_key=session_key_of(request),
                               **body.validated_data)  # fmt: skip
        answer = status.HTTP_201_CREATED if top_up.status == ChargeStatus.SUCCEEDED else 202
        return Response(TopUpOutput(top_up).data, status=answer)


class WebhookOutput(serializers.Serializer):
    received = serializers.BooleanField()
    duplicate = serializers.BooleanField(help_text="An event handled before: nothing was done.")


class StripeWebhookApi(APIView):
    """Stripe's events, verified by their signature (no key: Stripe is the caller). Never
    throttled: Stripe delivers from a few addresses in bursts (a retry storm after an outage),
    and a delivery refused would be retried for days; a forged one costs one HMAC check."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    @extend_schema(request=None, responses=with_errors(WebhookOutput))
    def post(self, request):
        try:
            event = gateway.webhook_event(request.body, request.headers.get("Stripe-Signature"))
        except gateway.InvalidSignature as error:
            raise DomainError("invalid_signature", f"Not a delivery from Stripe: {error}") from None
        except gateway.InvalidEvent as error:
            raise DomainError("invalid_event", str(error)) from None
        outcome = stripe_event_handle(event)
        return Response({"received": True, "duplicate": not outcome.handled})
