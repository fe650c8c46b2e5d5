"""Provider payouts API: where a provider is paid (`/api/v1/provider/payout-account/`) and
its statements (`/api/v1/provider/statements/`).

As the rest of the provider API (marketplace/api/provider_offers.py): a key with the
`provide` permission acts for the providers its organization owns; `provider` (a slug, in
the query string or the body) names one when it owns several. Another organization's
statement is not found.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.actors import actor_for_request
from billing.models import StatementStatus
from billing.selectors import NEWEST_PERIOD_FIRST
from billing.selectors_payouts import payout_account_of, statement_of, statements_with_lines
from billing.services.payouts import payout_account_put
from common.api.pagination import PAGE_PARAMETERS, page_params, paginate
from common.api.serializers import DecimalString, StrictSerializer, page_serializer, with_errors
from marketplace.selectors.providers import provider_acting, providers_acting

PROVIDER_PARAMETER = OpenApiParameter(
    "provider", str, description="One of your providers (slug); needed if you own several."
)


def _actor(request):
    actor = actor_for_request(request)
    actor.require("provide")
    return actor


class PayoutAccountInput(StrictSerializer):
    stripe_account = serializers.CharField(
        max_length=255, help_text="The provider's Stripe Connect account id, acct_..."
    )
    provider = serializers.SlugField(required=False, help_text="Needed if you own several.")


class PayoutAccountOutput(serializers.Serializer):
    provider = serializers.CharField(source="provider.slug")
    stripe_account = serializers.CharField()
    updated_at = serializers.DateTimeField()


class PayoutAccountApi(APIView):
    @extend_schema(parameters=[PROVIDER_PARAMETER], responses=with_errors(PayoutAccountOutput))
    def get(self, request):
        provider = provider_acting(
            actor=_actor(request), slug=request.query_params.get("provider") or None
        )
        return Response(PayoutAccountOutput(payout_account_of(provider=provider)).data)

    @extend_schema(request=PayoutAccountInput, responses=with_errors(PayoutAccountOutput))
    def put(self, request):
        actor = _actor(request)
        body = PayoutAccountInput(data=request.data)
        body.is_valid(raise_exception=True)
        slug = body.validated_data.get("provider") or request.query_params.get("provider")
        provider = provider_acting(actor=actor, slug=slug or None)
        account = payout_account_put(
            provider=provider, stripe_account=body.validated_data["stripe_account"], actor=actor
        )
        return Response(PayoutAccountOutput(account).data)


class StatementLineOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(
        choices=["earning", "clawback"],
        help_text="earning: an invoice line's share; clawback: a credit note line taken back.",
    )
    invoice = serializers.IntegerField(source="source_line.invoice_id")
    invoice_number = serializers.CharField(source="source_line.invoice.number")
    invoice_line = serializers.IntegerField(source="source_line.id")
    credit_note_number = serializers.CharField(
        source="credit_note_line.credit_note.number", allow_null=True, default=None
    )
    credit_note_line = serializers.IntegerField(allow_null=True, source="credit_note_line_id")
    reservation = serializers.IntegerField(source="source_line.reservation_id")
    description = serializers.CharField(source="source_line.description")
    gross = DecimalString(help_text="Before tax; negative for a clawback.")
    fee = DecimalString()
    net = DecimalString()


class StatementOutput(serializers.Serializer):
    id = serializers.IntegerField()
    provider = serializers.CharField(source="provider.slug")
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField(help_text="Exclusive: the period is [start, end).")
    currency = serializers.CharField()
    gross = DecimalString(
        help_text="What buyers were invoiced for your reservations, net of credits."
    )
    fee_percent = DecimalString(help_text="PLATFORM_FEE_PERCENT when the statement was made.")
    fee = DecimalString()
    carried = DecimalString(help_text="A negative net of earlier statements brought forward.")
    net = DecimalString(help_text="gross - fee + carried: what the transfer pays.")
    status = serializers.ChoiceField(choices=StatementStatus.values)
    transfer = serializers.CharField(help_text="Stripe's transfer id once paid; empty before.")
    paid_at = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField(help_text="Why the last payout attempt failed, if it did.")
    lines = StatementLineOutput(many=True)


class StatementListApi(APIView):
    @extend_schema(
        parameters=[PROVIDER_PARAMETER, *PAGE_PARAMETERS],
        responses=with_errors(page_serializer(StatementOutput)),
        operation_id="provider_statements_list",
    )
    def get(self, request):
        providers = providers_acting(
            actor=_actor(request), slug=request.query_params.get("provider") or None
        )
        limit, cursor = page_params(request.query_params)
        page = paginate(
            statements_with_lines(providers=providers),
            keyset=NEWEST_PERIOD_FIRST,
            limit=limit,
            cursor=cursor,
        )
        return Response(page_serializer(StatementOutput)(page).data)


class StatementDetailApi(APIView):
    @extend_schema(responses=with_errors(StatementOutput))
    def get(self, request, statement_id: int):
        providers = providers_acting(actor=_actor(request))
        return Response(
            StatementOutput(statement_of(providers=providers, statement_id=statement_id)).data
        )
