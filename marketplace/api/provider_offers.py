"""Provider API: offers a provider lists itself (`/api/v1/provider/offers/`).

A key with the `provider` role (or owner/admin) acts for the providers its organization
owns. Writes that create offers need one provider: the organization's only one, or the one
named by `provider` (body or query string). Reads cover all of them unless one is named.
"""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.actors import Actor, actor_for_request
from common.api.pagination import OLDEST_FIRST, PAGE_PARAMETERS, page_params, paginate
from common.api.serializers import StrictSerializer, page_serializer, with_errors
from common.errors import DomainError
from marketplace.api.catalog import OfferOutput
from marketplace.models import OfferStatus, PricingModel
from marketplace.selectors.providers import provider_acting, provider_offer, provider_offers
from marketplace.services.provider_offers import (
    MAX_REPORTED_ERRORS,
    offer_as_item,
    provider_offer_create,
    provider_offer_update,
    provider_offer_withdraw,
    provider_offers_put,
    raise_item_errors,
)

MAX_BULK_OFFERS = 5000
_POSITIVE = {"min_value": "Must be positive (more than 0)."}


class ListedOfferInput(StrictSerializer):
    sku = serializers.CharField(max_length=200)
    gpu = serializers.CharField(
        max_length=100, help_text="A canonical GPU name or alias, e.g. `H100`, `A100-80GB`."
    )
    gpu_count = serializers.IntegerField(min_value=1, max_value=64)
    vcpus = serializers.DecimalField(
        max_digits=7, decimal_places=1, min_value=0, max_value=4096, default=Decimal(0)
    )
    memory_gb = serializers.DecimalField(
        max_digits=9, decimal_places=1, min_value=0, max_value=65536, default=Decimal(0)
    )
    disk_gb = serializers.DecimalField(
        max_digits=9, decimal_places=1, min_value=0, max_value=1_000_000, default=Decimal(0)
    )
    region = serializers.CharField(max_length=100)
    pricing = serializers.ChoiceField(choices=PricingModel.values, default=PricingModel.ON_DEMAND)
    price_per_hour = serializers.DecimalField(
        max_digits=14,
        decimal_places=6,
        min_value=Decimal("0.000001"),
        max_value=Decimal(100_000),
        error_messages=_POSITIVE,
        help_text="USD per hour for one instance, at most 6 decimals.",
    )
    available = serializers.IntegerField(
        min_value=0, max_value=10_000, help_text="Instances that can be reserved now."
    )


class ListedOfferCreateInput(ListedOfferInput):
    provider = serializers.SlugField(required=False, help_text="Needed if you own several.")


class OfferBulkInput(StrictSerializer):
    offers = serializers.ListField(help_text=f"Up to {MAX_BULK_OFFERS} offers.")
    complete = serializers.BooleanField(
        default=False, help_text="The whole list: offers left out are withdrawn."
    )
    provider = serializers.SlugField(required=False)

    def validate_offers(self, offers):
        if len(offers) > MAX_BULK_OFFERS:
            raise DomainError(
                "too_many_offers",
                f"At most {MAX_BULK_OFFERS} offers per request (got {len(offers)}): send the "
                "list in parts without `complete`, then withdraw what is gone.",
            )
        return offers


UpsertOutput = inline_serializer(
    "ProviderOfferUpsert",
    {
        "provider": serializers.CharField(),
        "created": serializers.IntegerField(),
        "updated": serializers.IntegerField(),
        "unchanged": serializers.IntegerField(),
        "withdrawn": serializers.IntegerField(),
    },
)


def provider_actor(request) -> Actor:
    actor = actor_for_request(request)
    actor.require("provide")
    return actor


def _first_message(errors: dict) -> str:
    field, messages = next(iter(errors.items()))
    text = messages[0] if isinstance(messages, list) and messages else messages
    return str(text) if field == "non_field_errors" else f"{field}: {text}"


def validated_items(items: list) -> list[dict]:
    """Each offer checked on its own, so that every bad one is reported with its index."""
    valid, errors = [], []
    for index, item in enumerate(items):
        serializer = ListedOfferInput(data=item)
        try:
            if serializer.is_valid():
                valid.append(serializer.validated_data)
                continue
        except DomainError as exc:  # not an object, or unknown fields
            errors.append({"index": index, "code": exc.code, "message": exc.message})
        else:
            message = _first_message(serializer.errors)
            errors.append(
                {
                    "index": index,
                    "code": "validation_error",
                    "message": message,
                    "fields": serializer.errors,
                }
            )
        if len(errors) >= MAX_REPORTED_ERRORS:
            break
    raise_item_errors(errors)
    return valid


class ProviderOfferListApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("provider", str, description="One of your providers (slug)."),
            OpenApiParameter("status", str, enum=OfferStatus.values),
            *PAGE_PARAMETERS,
        ],
        responses=with_errors(page_serializer(OfferOutput)),
        operation_id="provider_offers_list",
    )
    def get(self, request):
        actor = provider_actor(request)
        params = request.query_params
        limit, cursor = page_params(params)
        queryset = provider_offers(actor=actor, slug=params.get("provider") or None)
        if wanted := params.get("status"):
            if wanted not in OfferStatus.values:
                raise DomainError(
                    "invalid_status", f"status must be one of {', '.join(OfferStatus.values)}."
                )
            queryset = queryset.filter(status=wanted)
        page = paginate(queryset, keyset=OLDEST_FIRST, limit=limit, cursor=cursor)
        return Response(page_serializer(OfferOutput)(page).data)

    @extend_schema(request=ListedOfferCreateInput, responses=with_errors({201: OfferOutput}, 409))
    def post(self, request):
        actor = provider_actor(request)
        serializer = ListedOfferCreateInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        item = dict(serializer.validated_data)
        slug = item.pop("provider", None) or request.query_params.get("provider")
        provider = provider_acting(actor=actor, slug=slug)
        offer = provider_offer_create(provider=provider, item=item)
        return Response(OfferOutput(offer).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=OfferBulkInput,
        responses=with_errors(UpsertOutput),
        operation_id="provider_offers_bulk_upsert",
    )
    def put(self, request):
        actor = provider_actor(request)
        serializer = OfferBulkInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        slug = data.get("provider") or request.query_params.get("provider")
        provider = provider_acting(actor=actor, slug=slug)
        items = validated_items(data["offers"])
        counts = provider_offers_put(provider=provider, items=items, complete=data["complete"])
        return Response(
            {
                "provider": provider.slug,
                "created": counts.created,
                "updated": counts.updated,
                "unchanged": counts.unchanged,
                "withdrawn": counts.withdrawn,
            }
        )


class ProviderOfferDetailApi(APIView):
    @extend_schema(responses=with_errors(OfferOutput), operation_id="provider_offer_retrieve")
    def get(self, request, offer_id: int):
        offer = provider_offer(actor=provider_actor(request), offer_id=offer_id)
        return Response(OfferOutput(offer).data)

    @extend_schema(request=ListedOfferInput, responses=with_errors(OfferOutput))
    def patch(self, request, offer_id: int):
        return self._update(request, offer_id, partial=True)

    @extend_schema(
        request=ListedOfferInput,
        responses=with_errors(OfferOutput),
        operation_id="provider_offer_replace",
    )
    def put(self, request, offer_id: int):
        return self._update(request, offer_id, partial=False)

    @extend_schema(request=None, responses=with_errors(OfferOutput))
    def delete(self, request, offer_id: int):
        offer = provider_offer(actor=provider_actor(request), offer_id=offer_id)
        offer = provider_offer_withdraw(offer=offer)
        return Response(OfferOutput(offer).data)

    def _update(self, request, offer_id: int, *, partial: bool) -> Response:
        offer = provider_offer(actor=provider_actor(request), offer_id=offer_id)
        serializer = ListedOfferInput(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        item = offer_as_item(offer) | dict(serializer.validated_data)
        offer = provider_offer_update(offer=offer, item=item)
        return Response(OfferOutput(offer).data)
