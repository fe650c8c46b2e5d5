"""Catalog API: GPUs, the providers and offers, readable without a key (limited by
`search`, per key, user or address: common/api/throttles.py)."""

from __future__ import annotations

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api.pagination import PAGE_PARAMETERS, CursorPage, page_params
from common.api.serializers import DecimalString, FlatOutput, page_serializer, with_errors
from marketplace.models import OfferStatus, PricingModel
from marketplace.selectors.catalog import offer_search
from marketplace.selectors.catalog_providers import catalog_providers
from marketplace.selectors.offers import gpu_models, offers_visible
from marketplace.selectors.search_answers import catalog_version, search_answers

SEARCH = {"GET": ("search",)}


class GpuOutput(serializers.Serializer):
    id = serializers.IntegerField()
    vendor = serializers.CharField()
    name = serializers.CharField()
    memory_gb = serializers.IntegerField()
    compute_capability = serializers.CharField()
    architecture = serializers.CharField()
    superchip = serializers.BooleanField()
    bf16_tflops = DecimalString(allow_null=True)
    relative_throughput = DecimalString(allow_null=True)
    aliases = serializers.ListField(child=serializers.CharField())


class OfferOutput(FlatOutput):
    """The offer document of the catalog and of the provider API. Money and sizes are decimal
    strings, `observed_at` is UTC ending in Z."""

    id = serializers.IntegerField()
    provider = serializers.CharField(source="provider.slug")
    sku = serializers.CharField()
    gpu = serializers.CharField(source="gpu.name", allow_null=True)
    gpu_vendor = serializers.CharField(source="gpu.vendor", allow_null=True)
    gpu_count = serializers.IntegerField()
    gpu_memory_gb = DecimalString()
    vcpus = DecimalString()
    memory_gb = DecimalString()
    disk_gb = DecimalString()
    region = serializers.CharField()
    zone = serializers.CharField()
    country = serializers.CharField()
    continent = serializers.CharField()
    pricing = serializers.ChoiceField(choices=PricingModel.values)
    price_per_hour = DecimalString()
    price_per_gpu_hour = DecimalString()
    currency = serializers.CharField()
    available = serializers.IntegerField()
    reliability = DecimalString(allow_null=True)
    interconnect = serializers.CharField()
    observed_at = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=OfferStatus.values)
    suspect = serializers.BooleanField()
    suspect_reason = serializers.CharField()


class GpuListApi(APIView):
    permission_classes = [AllowAny]
    rate_limit_scopes = SEARCH

    @extend_schema(responses=with_errors(page_serializer(GpuOutput)))
    def get(self, request):
        # Every GPU on one page: the canonical list is short.
        page = CursorPage(list(gpu_models()), None)
        return Response(page_serializer(GpuOutput)(page).data)


class CatalogProviderOutput(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField()
    reservable = serializers.BooleanField(help_text="Whether its offers can be reserved here.")
    why_not_reservable = serializers.CharField(help_text="Empty when reservable.")
    offers = serializers.IntegerField(help_text="Listed offers (active and stale).")
    last_synced_at = serializers.DateTimeField(
        help_text="Its newest price: when a price sync (or the provider) last confirmed one."
    )
    data_age_seconds = serializers.SerializerMethodField()

    def get_data_age_seconds(self, provider) -> int:
        return provider.data_age_seconds(self.context["now"])


class CatalogProviderListApi(APIView):
    """The catalog's providers: reservable here or listed for comparison, and how fresh."""

    permission_classes = [AllowAny]
    rate_limit_scopes = SEARCH

    @extend_schema(responses=with_errors(page_serializer(CatalogProviderOutput)))
    def get(self, request):
        page = CursorPage(catalog_providers(), None)  # a few dozen: one page
        output = page_serializer(CatalogProviderOutput)(page, context={"now": timezone.now()})
        return Response(output.data)


class OfferListApi(APIView):
    permission_classes = [AllowAny]
    rate_limit_scopes = SEARCH

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "q",
                str,
                description="Filter, e.g. `gpu=H100 gpus>=8 price<30/h region=eu-*`. "
                "Grammar and fields: docs/filter-language.md. A mistake answers 400 "
                "`invalid_query` with `position` and `hint`.",
            ),
            OpenApiParameter(
                "sort",
                str,
                description="Numeric sort keys, `-` for descending: `gpu_price,-gpus` "
                "(default `gpu_price`).",
            ),
            *PAGE_PARAMETERS,
        ],
        responses=with_errors(page_serializer(OfferOutput)),
        operation_id="offers_list",
    )
    def get(self, request):
        params = request.query_params
        limit, cursor = page_params(params)
        query, sort = params.get("q", ""), params.get("sort", "")
        # JSON answers are kept while the catalog is unchanged (selectors/search_answers.py).
        answers = search_answers() if request.accepted_renderer.format == "json" else None
        version = catalog_version() if answers is not None else None
        key = (request.accepted_media_type, query, sort, limit, cursor)
        if version is not None and (body := answers.get(key, version)) is not None:
            return _json_response(request, body)
        search = offer_search(query=query, sort=sort)
        # The offers' columns only, rendered as OfferPage renders offers: the same document.
        page = search.page(limit=limit, cursor=cursor, columns=OfferOutput.columns())
        data = {"results": OfferOutput.render_values(page.rows), "next": page.next}
        if version is None or page.unchanged_until is None:
            return Response(data)
        renderer_context = self.get_renderer_context()
        body = request.accepted_renderer.render(data, request.accepted_media_type, renderer_context)
        answers.put(key, version, search.resolved_against, body, until=page.unchanged_until)
        return _json_response(request, body)


def _json_response(request, body: bytes) -> HttpResponse:
    """Rendered JSON as DRF's Response sends it (JSONRenderer has no charset parameter)."""
    return HttpResponse(body, content_type=request.accepted_renderer.media_type)


class OfferDetailApi(APIView):
    permission_classes = [AllowAny]
    rate_limit_scopes = SEARCH

    @extend_schema(responses=with_errors(OfferOutput))
    def get(self, request, offer_id: int):
        offer = offers_visible().get(pk=offer_id)
        return Response(OfferOutput(offer).data)
