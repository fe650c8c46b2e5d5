"""Provider registration: an organization lists the providers it owns and registers new ones."""

from __future__ import annotations

from datetime import timedelta

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.actors import actor_for_request
from common.api.pagination import PAGE_PARAMETERS, Keyset, page_params, paginate
from common.api.serializers import StrictSerializer, page_serializer, with_errors
from marketplace.selectors.offers import providers_for_org
from marketplace.selectors.providers import provider_owned
from marketplace.services.providers import (
    MAX_WEBHOOK_SECRET_OVERLAP,
    provider_register,
    provider_webhook_secret_rotate,
    provider_webhook_url_set,
)


class ProviderInput(StrictSerializer):
    org = serializers.CharField(max_length=80, help_text="Organization id or slug.")
    name = serializers.CharField(max_length=120)
    slug = serializers.SlugField(max_length=60)
    webhook_url = serializers.URLField(required=False, allow_blank=True)


class ProviderOutput(serializers.Serializer):
    id = serializers.IntegerField()
    org = serializers.IntegerField(source="org_id")
    name = serializers.CharField()
    slug = serializers.CharField()
    kind = serializers.CharField()
    webhook_url = serializers.CharField()
    created_at = serializers.DateTimeField()


class ProviderCreatedOutput(ProviderOutput):
    webhook_secret = serializers.CharField(
        help_text="Signs the launch requests sent to `webhook_url`; only this response shows it."
    )


BY_SLUG = Keyset((("slug", False),))  # slugs are unique


class ProviderListCreateApi(APIView):
    @extend_schema(
        parameters=PAGE_PARAMETERS, responses=with_errors(page_serializer(ProviderOutput))
    )
    def get(self, request):
        actor = actor_for_request(request)
        limit, cursor = page_params(request.query_params)
        providers = providers_for_org(org=actor.org)
        page = paginate(providers, keyset=BY_SLUG, limit=limit, cursor=cursor)
        return Response(page_serializer(ProviderOutput)(page).data)

    @extend_schema(request=ProviderInput, responses=with_errors({201: ProviderCreatedOutput}, 409))
    def post(self, request):
        serializer = ProviderInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        actor = actor_for_request(request, org_hint=data["org"])
        actor.require("manage_org")
        provider = provider_register(
            org=actor.org,
            name=data["name"],
            slug=data["slug"],
            webhook_url=data.get("webhook_url", ""),
        )
        return Response(ProviderCreatedOutput(provider).data, status=status.HTTP_201_CREATED)


class ProviderWebhookInput(StrictSerializer):
    webhook_url = serializers.URLField(
        allow_blank=True,
        help_text="Where launch and terminate requests are sent (https, a public host); "
        "empty: none are sent, the provider polls.",
    )


class WebhookSecretRotateInput(StrictSerializer):
    overlap_seconds = serializers.IntegerField(
        required=False, default=3600, min_value=0,
        max_value=int(MAX_WEBHOOK_SECRET_OVERLAP.total_seconds()),
        help_text="How long deliveries are signed with the old secret too (0: it stops at "
        "once; at most 1 day).",
    )  # fmt: skip


class WebhookSecretOutput(serializers.Serializer):
    provider = serializers.IntegerField(source="pk")
    webhook_secret = serializers.CharField(help_text="The new secret; only this response shows it.")
    previous_secret_expires_at = serializers.DateTimeField(
        source="previous_webhook_secret_expires_at",
        allow_null=True,
        help_text="Until then deliveries carry a signature by the old secret too; null: "
        "they carry the new one's only.",
    )


class ProviderWebhookApi(APIView):
    @extend_schema(request=ProviderWebhookInput, responses=with_errors(ProviderOutput))
    def post(self, request, provider_id: int):
        serializer = ProviderWebhookInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        provider = provider_owned(actor=actor_for_request(request), provider_id=provider_id)
        provider = provider_webhook_url_set(
            provider=provider, webhook_url=serializer.validated_data["webhook_url"]
        )
        return Response(ProviderOutput(provider).data)


class WebhookSecretRotateApi(APIView):
    @extend_schema(
        request=WebhookSecretRotateInput, responses=with_errors({201: WebhookSecretOutput})
    )
    def post(self, request, provider_id: int):
        serializer = WebhookSecretRotateInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        provider = provider_owned(actor=actor_for_request(request), provider_id=provider_id)
        overlap = timedelta(seconds=serializer.validated_data["overlap_seconds"])
        provider = provider_webhook_secret_rotate(provider=provider, overlap=overlap)
        return Response(WebhookSecretOutput(provider).data, status=status.HTTP_201_CREATED)
