"""Provider API: launch requests to poll, and events reporting instance state.

`GET /api/v1/provider/launch-requests/`: the open requests (pending or delivered by
webhook) of your providers, oldest first; the same documents the webhook sends, plus their
delivery status. `POST /api/v1/provider/reservations/<id>/events/`: report `running` (with
connection details for the buyer), `failed` (with a reason), `preempted` or `terminated`.
"""

from __future__ import annotations

import json
from decimal import Decimal

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api.pagination import OLDEST_FIRST, PAGE_PARAMETERS, page_params, paginate
from common.api.serializers import StrictSerializer, page_serializer, with_errors
from common.errors import DomainError
from common.jsonb import jsonb_storable
from common.net import is_host, is_port, is_posix_user_name
from marketplace.api.provider_offers import provider_actor
from marketplace.models import (
    LaunchRequest,
    LaunchRequestKind,
    LaunchRequestStatus,
    ProviderEventType,
)
from marketplace.models.launch_requests import OPEN_LAUNCH_REQUEST_STATUSES
from marketplace.selectors.providers import (
    launch_request_document,
    provider_launch_requests,
    provider_reservation,
)
from marketplace.services.provider_events import ProviderEventInput, provider_event_apply

MAX_CONNECTION_BYTES = 4096


def _statuses(raw: str | None) -> list[str]:
    if not raw:
        return list(OPEN_LAUNCH_REQUEST_STATUSES)
    wanted = [s.strip() for s in raw.split(",") if s.strip()]
    unknown = sorted(set(wanted) - set(LaunchRequestStatus.values))
    if unknown:
        raise DomainError(
            "invalid_status",
            f"Unknown status {', '.join(unknown)}; known: {', '.join(LaunchRequestStatus.values)}.",
        )
    return wanted


class LaunchRequestOutput(serializers.Serializer):
    """The document the webhook sends (`launch_request_document`: these fields and the
    request's payload, e.g. `reservation`, `instance_id`, `events_url`), plus its delivery."""

    id = serializers.IntegerField()
    # Text, not an enum: the schema has another `type` enum (the events') of other values.
    type = serializers.CharField(
        source="kind", help_text=f"One of {', '.join(LaunchRequestKind.values)}."
    )
    created_at = serializers.DateTimeField()
    answer_by = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=LaunchRequestStatus.choices)
    delivery_attempts = serializers.IntegerField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField()

    def to_representation(self, instance: LaunchRequest) -> dict:
        return launch_request_document(instance) | super().to_representation(instance)


class LaunchRequestListApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("provider", str, description="One of your providers (slug)."),
            OpenApiParameter(
                "status", str, description="Comma-separated; default `pending,delivered`."
            ),
            *PAGE_PARAMETERS,
        ],
        responses=with_errors(page_serializer(LaunchRequestOutput)),
    )
    def get(self, request):
        actor = provider_actor(request)
        params = request.query_params
        limit, cursor = page_params(params)
        queryset = provider_launch_requests(
            actor=actor,
            slug=params.get("provider") or None,
            statuses=_statuses(params.get("status")),
        )
        page = paginate(queryset, keyset=OLDEST_FIRST, limit=limit, cursor=cursor)
        return Response(page_serializer(LaunchRequestOutput)(page).data)


CONNECTION_FIELDS = (
    ("host", lambda v: isinstance(v, str) and is_host(v), "a host name or an IP address"),
    ("user", lambda v: isinstance(v, str) and is_posix_user_name(v), "a POSIX user name"),
    ("port", is_port, "a port number, 1 to 65535"),
)


class ProviderEventBody(StrictSerializer):
    id = serializers.CharField(max_length=200, help_text="Yours, unique per provider.")
    type = serializers.ChoiceField(choices=ProviderEventType.values)
    connection = serializers.DictField(
        required=False, default=dict, help_text="For `running`: host, port, user..."
    )
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    at = serializers.DateTimeField(required=False, help_text="When it happened; default now.")
    egress_gb = serializers.DecimalField(
        required=False,
        max_digits=16,
        decimal_places=6,
        min_value=Decimal(0),
        help_text="Data the reservation has sent out so far, in GB (a running total): billed "
        "at the reservation's locked egress rate. A smaller total than one reported before "
        "adds nothing.",
    )

    def validate_connection(self, connection):
        if len(json.dumps(connection, default=str)) > MAX_CONNECTION_BYTES:
            raise serializers.ValidationError(f"At most {MAX_CONNECTION_BYTES} bytes of JSON.")
        if not jsonb_storable(connection):  # PostgreSQL would refuse it on saving
            raise serializers.ValidationError(
                "Text may not contain NUL (\\u0000) or unpaired surrogate characters."
            )
        # The buyer is shown `ssh user@host -p port`: each part must be what it says.
        for name, valid, expected in CONNECTION_FIELDS:
            if name in connection and not valid(connection[name]):
                raise serializers.ValidationError(f"`{name}` must be {expected}.")
        return connection

    def validate(self, attrs):
        if attrs["type"] == ProviderEventType.RUNNING and not attrs["connection"]:
            raise serializers.ValidationError(
                {"connection": "Required with `running`: how the buyer reaches the instance."}
            )
        return attrs


class EventOutput(serializers.Serializer):
    id = serializers.CharField()
    type = serializers.ChoiceField(choices=ProviderEventType.values)
    at = serializers.DateTimeField()


class ReservationStateOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    running_since = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)


class ProviderEventOutput(serializers.Serializer):
    """What the event did; a repeated event id answers the first result again."""

    event = EventOutput()
    reservation = ReservationStateOutput()
    duplicate = serializers.BooleanField()


class ProviderReservationEventApi(APIView):
    @extend_schema(request=ProviderEventBody, responses=with_errors(ProviderEventOutput, 409))
    def post(self, request, reservation_id: int):
        actor = provider_actor(request)
        reservation = provider_reservation(actor=actor, reservation_id=reservation_id)
        serializer = ProviderEventBody(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        event = ProviderEventInput(
            event_id=data["id"],
            type=data["type"],
            connection=data["connection"],
            reason=data["reason"],
            at=data.get("at"),
            egress_gb=data.get("egress_gb"),
        )
        result, duplicate = provider_event_apply(reservation=reservation, event=event)
        return Response(ProviderEventOutput(result | {"duplicate": duplicate}).data)
