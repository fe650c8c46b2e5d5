"""The price index API (GET /api/v1/prices/index/): per day, the P10 / median / P90 price
per GPU-hour of one GPU model's offers, readable without a key like the catalog (docs/api.md,
"Price index"; the rules: marketplace/selectors/price_index.py)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api.serializers import DecimalString, with_errors
from marketplace.locations import CONTINENTS
from marketplace.models import PricingModel
from marketplace.selectors.price_index import (
    DEFAULT_GPU,
    DEFAULT_WINDOW,
    WINDOWS,
    price_index,
    price_index_query,
)


class PriceIndexDayOutput(serializers.Serializer):
    day = serializers.DateField(help_text="UTC day.")
    p10 = DecimalString(allow_null=True, help_text="Null when no offer was listed that day.")
    median = DecimalString(allow_null=True)
    p90 = DecimalString(allow_null=True)
    offers = serializers.IntegerField(help_text="Offers listed that day (each counted once).")
    providers = serializers.IntegerField()


class PriceIndexOutput(serializers.Serializer):
    gpu = serializers.CharField(source="query.gpu", help_text="Canonical name, every memory size.")
    pricing = serializers.CharField(
        source="query.pricing", allow_blank=True, help_text="Empty: every pricing model."
    )
    continent = serializers.CharField(
        source="query.continent", allow_blank=True, help_text="Empty: everywhere."
    )
    days = serializers.IntegerField(source="query.days")
    currency = serializers.CharField()
    rows = PriceIndexDayOutput(many=True, help_text="One per day, oldest first, today last.")


class PriceIndexApi(APIView):
    permission_classes = [AllowAny]
    rate_limit_scopes = {"GET": ("search",)}

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "gpu",
                str,
                description=f"GPU model: a canonical name or an alias (`h100-sxm` is H100); "
                f"default {DEFAULT_GPU}. Unknown: 400 `unknown_gpu`.",
            ),
            OpenApiParameter(
                "pricing",
                str,
                enum=PricingModel.values,
                description="One pricing model; omitted: all. Else 400 `invalid_pricing`.",
            ),
            OpenApiParameter(
                "continent",
                str,
                enum=list(CONTINENTS),
                description="Where the offers run; omitted: anywhere. Else 400 `invalid_continent`.",
            ),
            OpenApiParameter(
                "days",
                int,
                enum=list(WINDOWS),
                description=f"The window, ending today (UTC); default {DEFAULT_WINDOW}. "
                "Else 400 `invalid_window`.",
            ),
        ],
        responses=with_errors(PriceIndexOutput),
        operation_id="prices_index",
    )
    def get(self, request):
        params = request.query_params
        query = price_index_query(
            gpu=params.get("gpu"),
            pricing=params.get("pricing"),
            continent=params.get("continent"),
            days=params.get("days"),
        )
        return Response(PriceIndexOutput(price_index(query=query)).data)
