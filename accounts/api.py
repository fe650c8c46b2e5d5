"""Accounts API: organizations and API keys."""

from __future__ import annotations

from datetime import timedelta

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api.pagination import (
    NEWEST_FIRST,
    PAGE_PARAMETERS,
    CursorPage,
    Keyset,
    page_params,
    paginate,
)
from common.api.serializers import StrictSerializer, page_serializer, with_errors
from common.errors import DomainError

from .actors import actor_for_request
from .models import ApiKey, Role
from .selectors import api_keys_for_orgs, memberships_for_user
from .services import api_key_create, api_key_revoke, api_key_rotate, organization_create


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """Says in the schema how API calls authenticate (registered by being defined; this
    module is loaded with the API's URLs)."""

    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "An API key: `gpm_...`."}


class OrgInput(StrictSerializer):
    name = serializers.CharField(max_length=200)


class OrgOutput(serializers.Serializer):
    """An organization and the caller's role in it, from a membership (or an API key: the
    one organization it acts for)."""

    id = serializers.IntegerField(source="org.pk")
    name = serializers.CharField(source="org.name")
    slug = serializers.CharField(source="org.slug")
    role = serializers.ChoiceField(choices=Role.choices)


# A user's organizations by id: (user, org) is unique, so the org id is a keyset.
BY_ORG = Keyset((("org_id", False),))


class OrgListCreateApi(APIView):
    @extend_schema(parameters=PAGE_PARAMETERS, responses=with_errors(page_serializer(OrgOutput)))
    def get(self, request):
        if isinstance(request.auth, ApiKey):
            page = CursorPage([request.auth], None)
        else:
            limit, cursor = page_params(request.query_params)
            memberships = memberships_for_user(user=request.user)
            page = paginate(memberships, keyset=BY_ORG, limit=limit, cursor=cursor)
        return Response(page_serializer(OrgOutput)(page).data)

    @extend_schema(request=OrgInput, responses=with_errors({201: OrgOutput}))
    def post(self, request):
        serializer = OrgInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        org = organization_create(user=request.user, name=serializer.validated_data["name"])
        body = OrgOutput({"org": org, "role": Role.OWNER}).data
        return Response(body, status=status.HTTP_201_CREATED)


class ApiKeyInput(StrictSerializer):
    org = serializers.CharField(max_length=80, help_text="Organization id or slug.")
    name = serializers.CharField(max_length=100)
    role = serializers.ChoiceField(
        choices=Role.choices, help_text="At most your own (an admin cannot issue owner keys)."
    )
    expires_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Optional; the key stops working then."
    )


class ApiKeyRotateInput(StrictSerializer):
    overlap_seconds = serializers.IntegerField(
        required=False, default=0, min_value=0, max_value=604800,
        help_text="How long the old key keeps working (0: revoked at once; at most 7 days).",
    )  # fmt: skip


class ApiKeyOutput(serializers.Serializer):
    id = serializers.IntegerField()
    org = serializers.IntegerField(source="org_id")
    name = serializers.CharField()
    role = serializers.CharField()
    prefix = serializers.CharField()
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)


class ApiKeyCreatedOutput(ApiKeyOutput):
    key = serializers.CharField(help_text="The secret. Shown once; store it now.")


class ApiKeyListCreateApi(APIView):
    @extend_schema(parameters=PAGE_PARAMETERS, responses=with_errors(page_serializer(ApiKeyOutput)))
    def get(self, request):
        actor = actor_for_request(request)
        actor.require("manage_org")
        limit, cursor = page_params(request.query_params)
        keys = api_keys_for_orgs(org_ids=[actor.org.pk])
        page = paginate(keys, keyset=NEWEST_FIRST, limit=limit, cursor=cursor)
        return Response(page_serializer(ApiKeyOutput)(page).data)

    @extend_schema(request=ApiKeyInput, responses=with_errors({201: ApiKeyCreatedOutput}))
    def post(self, request):
        serializer = ApiKeyInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        actor = actor_for_request(request, org_hint=data["org"])
        actor.require("manage_org")
        issued = api_key_create(
            org=actor.org, created_by=request.user, name=data["name"], role=data["role"],
            expires_at=data.get("expires_at"), creator_role=actor.role,
        )  # fmt: skip
        body = ApiKeyOutput(issued.api_key).data | {"key": issued.secret}
        return Response(body, status=status.HTTP_201_CREATED)


class ApiKeyDetailApi(APIView):
    @extend_schema(responses=with_errors(ApiKeyOutput))
    def delete(self, request, key_id: int):
        actor = actor_for_request(request)
        actor.require("manage_org")
        api_key = api_keys_for_orgs(org_ids=[actor.org.pk]).filter(pk=key_id).first()
        if api_key is None:
            raise DomainError("not_found", f"API key {key_id} does not exist.")
        return Response(ApiKeyOutput(api_key_revoke(api_key=api_key)).data)


class ApiKeyRotateApi(APIView):
    @extend_schema(
        request=ApiKeyRotateInput, responses=with_errors({201: ApiKeyCreatedOutput}, 404, 409)
    )
    def post(self, request, key_id: int):
        serializer = ApiKeyRotateInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        actor = actor_for_request(request)
        actor.require("manage_org")
        api_key = api_keys_for_orgs(org_ids=[actor.org.pk]).filter(pk=key_id).first()
        if api_key is None:
            raise DomainError("not_found", f"API key {key_id} does not exist.")
        issued = api_key_rotate(
            api_key=api_key, rotated_by=request.user, rotator_role=actor.role,
            overlap=timedelta(seconds=serializer.validated_data["overlap_seconds"]),
        )  # fmt: skip
        body = ApiKeyOutput(issued.api_key).data | {"key": issued.secret}
        return Response(body, status=status.HTTP_201_CREATED)
