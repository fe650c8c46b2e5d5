"""Buyer API: all-in quotes (POST /api/v1/quotes/), see docs/quotes.md."""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.actors import actor_for_request
from common.api.serializers import StrictSerializer
from marketplace.models import PricingModel
from marketplace.quoting.engine import quote_create
from marketplace.quoting.plans import COST_PER_WORK, TOTAL_COST
from marketplace.quoting.presentation import QuoteCreateOutput, QuoteOutput
from marketplace.quoting.request import DEFAULT_LIMIT, QuoteRequest
from marketplace.quoting.storage import quote_for_org
from marketplace.services.reservations import MAX_HOURS


class QuoteInput(StrictSerializer):
    # Whitespace is kept: error positions point into the text exactly as sent.
    gpu = serializers.CharField(max_length=500, trim_whitespace=False)
    filter = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=4000, trim_whitespace=False
    )
    hours = serializers.DecimalField(
        max_digits=10, decimal_places=4, min_value=Decimal("0.0167"), max_value=MAX_HOURS
    )
    pricing = serializers.ListField(
        child=serializers.ChoiceField(PricingModel.values),
        min_length=1,
        max_length=3,
        default=lambda: [PricingModel.ON_DEMAND],
    )
    objective = serializers.ChoiceField([TOTAL_COST, COST_PER_WORK], default=TOTAL_COST)
    disk_gb = serializers.DecimalField(
        max_digits=9, decimal_places=2, min_value=Decimal(0), default=Decimal(0)
    )
    egress_gb = serializers.DecimalField(
        max_digits=10, decimal_places=2, min_value=Decimal(0), default=Decimal(0)
    )
    max_total = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=Decimal(0), required=False, allow_null=True
    )
    allow_split = serializers.BooleanField(default=False)
    same_region = serializers.BooleanField(default=True)
    currency = serializers.RegexField(r"^[A-Z]{3}$", default="USD")
    limit = serializers.IntegerField(min_value=1, max_value=20, default=DEFAULT_LIMIT)

    def to_request(self) -> QuoteRequest:
        data = dict(self.validated_data)
        data["pricing"] = tuple(dict.fromkeys(data["pricing"]))
        return QuoteRequest(**data)


class QuoteCreateApi(APIView):
    # A quote prices the whole catalog for the request: a search, and the step before a booking.
    rate_limit_scopes = {"POST": ("write", "reserve")}

    @extend_schema(request=QuoteInput, responses={201: QuoteCreateOutput})
    def post(self, request):
        actor = actor_for_request(request)
        actor.require("reserve")
        serializer = QuoteInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = quote_create(org=actor.org, request=serializer.to_request())
        return Response(QuoteCreateOutput(result).data, status=status.HTTP_201_CREATED)


class QuoteDetailApi(APIView):
    rate_limit_scopes = {"GET": ("search",)}

    @extend_schema(responses=QuoteOutput)
    def get(self, request, quote_id):
        actor = actor_for_request(request)
        actor.require("read_reservations")
        quote = quote_for_org(org=actor.org, quote_id=quote_id)
        return Response(QuoteOutput(quote).data)
