"""Catalog API: GPUs and offers, readable without a key (throttled)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api.pagination import parse_limit
from common.api.throttles import CatalogThrottle
from marketplace.selectors.catalog import offer_search, offer_to_dict
from marketplace.selectors.offers import gpu_models, offers_visible


def gpu_to_dict(gpu) -> dict:
    return {
        "id": gpu.pk,
        "vendor": gpu.vendor,
        "name": gpu.name,
        "memory_gb": gpu.memory_gb,
        "compute_capability": gpu.compute_capability,
        "architecture": gpu.architecture,
        "superchip": gpu.superchip,
        "bf16_tflops": None if gpu.bf16_tflops is None else str(gpu.bf16_tflops),
        "relative_throughput": None
        if gpu.relative_throughput is None
        else str(gpu.relative_throughput),
        "aliases": gpu.aliases,
    }


class GpuListApi(APIView):
    permission_classes = [AllowAny]
    throttle_classes = [CatalogThrottle]

    def get(self, request):
        return Response({"results": [gpu_to_dict(g) for g in gpu_models()], "next": None})


class OfferListApi(APIView):
    permission_classes = [AllowAny]
    throttle_classes = [CatalogThrottle]

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
            OpenApiParameter("limit", int, description="Page size, 1..500 (default 50)."),
            OpenApiParameter("cursor", str, description="The `next` cursor of the previous page."),
        ]
    )
    def get(self, request):
        params = request.query_params
        limit = parse_limit(params.get("limit"))
        search = offer_search(query=params.get("q", ""), sort=params.get("sort", ""))
        page, next_cursor = search.page(limit=limit, cursor=params.get("cursor") or None)
        return Response({"results": [offer_to_dict(o) for o in page], "next": next_cursor})


class OfferDetailApi(APIView):
    permission_classes = [AllowAny]
    throttle_classes = [CatalogThrottle]

    def get(self, request, offer_id: int):
        offer = offers_visible().get(pk=offer_id)
        return Response(offer_to_dict(offer))
