"""Buyer API: reservations."""

from __future__ import annotations

import unicodedata
from decimal import Decimal

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.actors import actor_for_request
from common.api.pagination import NEWEST_FIRST, PAGE_PARAMETERS, page_params, paginate
from common.api.serializers import StrictSerializer, page_serializer, with_errors
from common.errors import DomainError
from marketplace.models import Reservation
from marketplace.selectors.reservations import reservation_for_org, reservations_for_org
from marketplace.services.quote_reservations import reservations_create_from_quote
from marketplace.services.reservations import (
    MAX_HOURS,
    ReservationRequest,
    reservation_create,
    reservation_request_termination,
)


class ReservationInput(StrictSerializer):
    quote = serializers.UUIDField(required=False)
    offer = serializers.IntegerField(required=False, min_value=1)
    gpus = serializers.IntegerField(required=False, min_value=1, max_value=4096)
    hours = serializers.DecimalField(
        required=False,
        max_digits=10,
        decimal_places=4,
        min_value=Decimal("0.0167"),
        max_value=MAX_HOURS,
    )
    max_price_per_hour = serializers.DecimalField(
        required=False, max_digits=14, decimal_places=6, min_value=Decimal(0)
    )
    auto_relaunch = serializers.BooleanField(required=False, default=False)
    expected_price_per_hour = serializers.DecimalField(
        required=False,
        max_digits=14,
        decimal_places=6,
        min_value=Decimal(0),
        help_text="With an offer: its price per hour as you saw it; a different price now "
        "answers 409 price_changed.",
    )

    def validate(self, attrs):
        if ("quote" in attrs) == ("offer" in attrs):
            raise serializers.ValidationError("Give either a quote or an offer, not both.")
        if "quote" in attrs and "expected_price_per_hour" in attrs:
            raise serializers.ValidationError(
                {"expected_price_per_hour": "A quote locks its own prices; give it with an offer."}
            )
        if "offer" in attrs and "hours" not in attrs:
            raise serializers.ValidationError({"hours": "This field is required with an offer."})
        return attrs


class ConnectionField(serializers.JSONField):
    """How to reach the instance, for roles that may `connect` (`may_connect` in the
    serializer's context); `{}` for the others, as before it runs. Hidden unless told."""

    def to_representation(self, value):
        if not self.context.get("may_connect", False):
            return {}
        return super().to_representation(value)


def _output_context(actor) -> dict:
    return {"may_connect": actor.can("connect")}


class ReservationOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    offer = serializers.IntegerField(source="offer_id")
    provider = serializers.CharField(source="offer.provider.slug")
    sku = serializers.CharField(source="offer.sku")
    gpu = serializers.CharField(source="offer.gpu.name", allow_null=True)
    region = serializers.CharField(source="offer.region")
    gpus = serializers.IntegerField()
    units = serializers.IntegerField()
    hours = serializers.DecimalField(max_digits=10, decimal_places=4)
    price_per_hour = serializers.DecimalField(max_digits=14, decimal_places=6)
    currency = serializers.CharField()
    max_price_per_hour = serializers.DecimalField(max_digits=14, decimal_places=6, allow_null=True)
    auto_relaunch = serializers.BooleanField()
    reserved_until = serializers.DateTimeField(
        help_text="The end of the reserved hours, counted from when the instance first ran "
        "(before that: the latest it may start)."
    )
    running_since = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    instance_id = serializers.CharField()
    connection = ConnectionField(
        help_text="ssh `host`, `user`, `port` once running; `{}` for roles that may not "
        "connect (finance)."
    )
    failure_reason = serializers.CharField()
    usage_seconds = serializers.IntegerField(
        help_text="Running seconds metered so far (metering runs every minute, and at the end)."
    )
    cost = serializers.DecimalField(
        max_digits=16,
        decimal_places=2,
        help_text="Everything billed for it so far: the sum of its invoice lines, each rounded "
        "as invoices round.",
    )
    quoted_total = serializers.DecimalField(
        max_digits=16,
        decimal_places=2,
        allow_null=True,
        help_text="What it was priced at for its hours (compute, start-up, disk, egress), "
        "rounded as its invoice lines are: what running exactly its hours bills.",
    )
    boot_seconds = serializers.IntegerField(help_text="Start-up time billed once.")
    disk_gb = serializers.DecimalField(max_digits=12, decimal_places=3)
    disk_price_per_hour = serializers.DecimalField(max_digits=14, decimal_places=6)
    egress_gb = serializers.DecimalField(
        max_digits=16, decimal_places=6, help_text="As asked; the bill is what is reported."
    )
    egress_price_per_gb = serializers.DecimalField(max_digits=14, decimal_places=6)
    created_at = serializers.DateTimeField()


class ReservationEventOutput(serializers.Serializer):
    from_status = serializers.CharField()
    to_status = serializers.CharField()
    at = serializers.DateTimeField()
    message = serializers.CharField()


class LaunchAttemptOutput(serializers.Serializer):
    number = serializers.IntegerField()
    offer = serializers.IntegerField(source="offer_id")
    outcome = serializers.CharField()
    error = serializers.CharField()
    scope = serializers.CharField()
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class ReservationRunOutput(serializers.Serializer):
    number = serializers.IntegerField()
    offer = serializers.IntegerField(source="offer_id")
    instance_id = serializers.CharField()
    price_per_hour = serializers.DecimalField(max_digits=14, decimal_places=6)
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)


class ReservationDetailOutput(ReservationOutput):
    events = ReservationEventOutput(many=True)
    attempts = LaunchAttemptOutput(many=True)
    runs = ReservationRunOutput(many=True)


class ReservationListCreateApi(APIView):
    rate_limit_scopes = {"POST": ("write", "reserve")}

    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses=with_errors(page_serializer(ReservationOutput)),
        operation_id="reservations_list",
    )
    def get(self, request):
        actor = actor_for_request(request)
        actor.require("read_reservations")
        limit, cursor = page_params(request.query_params)
        page = paginate(
            reservations_for_org(org=actor.org), keyset=NEWEST_FIRST, limit=limit, cursor=cursor
        )
        output = page_serializer(ReservationOutput)(page, context=_output_context(actor))
        return Response(output.data)

    @extend_schema(
        request=ReservationInput,
        responses=with_errors({201: ReservationOutput}, 402, 409),
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)],
    )
    def post(self, request):
        actor = actor_for_request(request)
        actor.require("reserve")
        serializer = ReservationInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        idempotency_key = _idempotency_key(request)
        if "quote" in data:
            reservations, created = reservations_create_from_quote(
                org=actor.org,
                user=request.user,
                quote_id=data["quote"],
                idempotency_key=idempotency_key,
                auto_relaunch=data["auto_relaunch"],
                max_price_per_hour=data.get("max_price_per_hour"),
            )
        else:
            reservation, created = reservation_create(
                org=actor.org, user=request.user, request=_offer_request(data, idempotency_key)
            )
            reservations = [reservation]
        first = reservation_for_org(org=actor.org, reservation_id=reservations[0].pk)
        # `plan` lists every reservation made: one, or one per leg of a split quote.
        output = ReservationOutput(first, context=_output_context(actor))
        body = output.data | {"plan": [r.pk for r in reservations]}
        # A replay answers as the first request did (201), as Stripe does, and says so in a
        # header: a client retrying after a lost response sees the same result.
        response = Response(body, status=status.HTTP_201_CREATED)
        if not created:
            response["Idempotent-Replayed"] = "true"
        return response


def _idempotency_key(request) -> str:
    key = request.headers.get("Idempotency-Key", "")[:200]
    # A header may carry a NUL byte, which PostgreSQL text cannot hold (the key is stored
    # and looked up): refuse control characters here instead of a 500 from the database.
    if any(unicodedata.category(char) == "Cc" for char in key):
        raise DomainError(
            "invalid_idempotency_key",
            "The Idempotency-Key header must not contain control characters.",
        )
    return key


def _offer_request(data: dict, idempotency_key: str) -> ReservationRequest:
    return ReservationRequest(
        offer_id=data["offer"],
        gpus=data.get("gpus"),
        hours=data["hours"],
        idempotency_key=idempotency_key,
        max_price_per_hour=data.get("max_price_per_hour"),
        auto_relaunch=data["auto_relaunch"],
        expected_price_per_hour=data.get("expected_price_per_hour"),
    )


def _get_own(request, reservation_id: int) -> Reservation:
    actor = actor_for_request(request)
    actor.require("read_reservations")
    reservation = reservations_for_org(org=actor.org).filter(pk=reservation_id).first()
    if reservation is None:
        raise DomainError("not_found", f"Reservation {reservation_id} does not exist.")
    return reservation


class ReservationDetailApi(APIView):
    @extend_schema(responses=with_errors(ReservationDetailOutput))
    def get(self, request, reservation_id: int):
        reservation = _get_own(request, reservation_id)
        context = _output_context(actor_for_request(request))
        return Response(ReservationDetailOutput(reservation, context=context).data)


class ReservationTerminateApi(APIView):
    @extend_schema(request=None, responses=with_errors({202: ReservationOutput}, 409))
    def post(self, request, reservation_id: int):
        reservation = _get_own(request, reservation_id)
        actor = actor_for_request(request)
        actor.require("reserve")
        reservation = reservation_request_termination(reservation=reservation)
        reservation = reservations_for_org(org=reservation.org).get(pk=reservation.pk)
        output = ReservationOutput(reservation, context=_output_context(actor))
        return Response(output.data, status=status.HTTP_202_ACCEPTED)
