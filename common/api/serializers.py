"""Base serializers of the API."""

from __future__ import annotations

from functools import cache

from rest_framework import serializers

from common.errors import DomainError


class StrictSerializer(serializers.Serializer):
    """Input serializer that refuses fields it does not know (typos must not pass silently)."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise DomainError("invalid_body", "The request body must be a JSON object.")
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise DomainError(
                "unknown_field",
                f"Unknown field(s): {', '.join(unknown)}. Known: {', '.join(sorted(self.fields))}.",
                fields=unknown,
            )
        return super().to_internal_value(data)


@cache
def page_serializer(item: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """The list envelope `{"results": [item, ...], "next": cursor or null}` around `item`,
    for a `CursorPage` (common.api.pagination); one class per item, so the schema names it
    once (`OfferOutput` → `OfferPage`)."""
    fields = {
        "results": item(many=True, source="rows"),
        "next": serializers.CharField(
            allow_null=True,
            help_text="The `cursor` of the next page; null on the last page.",
        ),
    }
    return type(item.__name__.removesuffix("Output") + "Page", (serializers.Serializer,), fields)


class DecimalString(serializers.DecimalField):
    """A decimal as its exact text (`"2.500000"`): the scale the database keeps, no rounding."""

    def __init__(self, **kwargs):
        super().__init__(max_digits=None, decimal_places=None, **kwargs)


class ErrorDetailOutput(serializers.Serializer):
    code = serializers.CharField(help_text="Stable: a program can branch on it.")
    message = serializers.CharField(help_text="For people: what went wrong and what to do.")


class ErrorOutput(serializers.Serializer):
    """Every 4xx body (common.api.errors); some codes add fields beside code and message
    (`invalid_query`: `position`, `hint`; `validation_error`: `fields`)."""

    error = ErrorDetailOutput()


def with_errors(responses, *statuses: int) -> dict:
    """`responses` for extend_schema (a serializer for 200, or {status: serializer}) with the
    error statuses every API view may answer, and the view's own (`402`, `409`...)."""
    documented = responses if isinstance(responses, dict) else {200: responses}
    return documented | dict.fromkeys((400, 401, 403, 404, *statuses), ErrorOutput)
