"""Funds API: an organization's balance (what it may still reserve for) and its budget."""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.actors import actor_for_request
from billing.selectors_funds import DEFAULT_CURRENCY, budget_for_org, org_balance
from billing.services.audit import session_key_of
from billing.services.budgets import BudgetData, budget_put
from common.api.serializers import DecimalString, StrictSerializer, with_errors
from common.errors import DomainError
from common.money import round_amount

CURRENCY_PATTERN = r"^[A-Z]{3}$"


class BalanceOutput(serializers.Serializer):
    currency = serializers.CharField()
    prepaid = DecimalString(help_text="Prepaid credit left (top-ups less what invoices used).")
    credit_limit = DecimalString(help_text="What the organization may spend on credit.")
    unpaid = DecimalString(help_text="Owed on open and uncollectible invoices, and drafts so far.")
    committed = DecimalString(
        help_text="What reservations not yet ended may still cost: quoted, less billed already."
    )
    available = DecimalString(
        help_text="prepaid + credit_limit − unpaid − committed: a reservation must fit in it."
    )


class BalanceQuery(StrictSerializer):
    currency = serializers.RegexField(CURRENCY_PATTERN, required=False, default=DEFAULT_CURRENCY)


class BalanceApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("currency", str, description="ISO 4217, upper case; USD if not given.")
        ],
        responses=with_errors(BalanceOutput),
    )
    def get(self, request):
        actor = actor_for_request(request)
        if not (actor.can("billing") or actor.can("reserve")):
            actor.require("billing")
        query = BalanceQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        currency = query.validated_data["currency"]
        balance = org_balance(org=actor.org, currency=currency)
        amounts = {
            name: round_amount(getattr(balance, name), currency)
            for name in ("prepaid", "credit_limit", "unpaid", "committed", "available")
        }
        return Response(BalanceOutput({"currency": currency, **amounts}).data)


class BudgetInput(StrictSerializer):
    monthly_limit = serializers.DecimalField(
        max_digits=16, decimal_places=2, min_value=Decimal("0.01")
    )
    currency = serializers.RegexField(CURRENCY_PATTERN, required=False, default=DEFAULT_CURRENCY)
    hard_stop = serializers.BooleanField(required=False, default=False)
    terminate_running = serializers.BooleanField(
        required=False,
        default=False,
        help_text="With hard_stop: terminate the running reservations once the limit is reached.",
    )

    def validate(self, data):
        if data["terminate_running"] and not data["hard_stop"]:
            raise serializers.ValidationError(
                {"terminate_running": "Only a hard-stop budget terminates running reservations."}
            )
        return data


class BudgetOutput(serializers.Serializer):
    org = serializers.IntegerField(source="org_id")
    monthly_limit = DecimalString()
    currency = serializers.CharField()
    hard_stop = serializers.BooleanField()
    terminate_running = serializers.BooleanField()
    updated_at = serializers.DateTimeField()


def _org_actor(request, org_id: int, permissions: tuple[str, ...]):
    """The caller acting for organization `org_id` with one of `permissions`. An organization
    the caller does not belong to is not found: its existence is not told."""
    try:
        actor = actor_for_request(request, org_hint=org_id)
    except DomainError as error:
        if error.code != "permission_denied":
            raise
        raise DomainError("not_found", f"Organization {org_id} does not exist.") from None
    if not any(actor.can(permission) for permission in permissions):
        actor.require(permissions[0])
    return actor


class BudgetApi(APIView):
    @extend_schema(responses=with_errors(BudgetOutput))
    def get(self, request, org_id: int):
        org = _org_actor(request, org_id, ("billing", "reserve")).org
        budget = budget_for_org(org=org)
        if budget is None:
            raise DomainError("not_found", f"Organization {org.pk} has no budget: PUT one.")
        return Response(BudgetOutput(budget).data)

    @extend_schema(request=BudgetInput, responses=with_errors(BudgetOutput))
    def put(self, request, org_id: int):
        actor = _org_actor(request, org_id, ("manage_org", "billing"))
        body = BudgetInput(data=request.data)
        body.is_valid(raise_exception=True)
        budget = budget_put(
            org=actor.org,
            data=BudgetData(**body.validated_data),
            actor=actor,
            session_key=session_key_of(request),
        )
        return Response(BudgetOutput(budget).data)
