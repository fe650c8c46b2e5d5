"""Base serializers of the API."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from enum import Enum
from functools import cache
from operator import attrgetter
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from rest_framework import serializers
from rest_framework.fields import SkipField

from common.errors import DomainError
from common.time import iso_z


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


def _decimal_text(field: serializers.Field) -> Callable[[Any], Any]:
    def convert(value):
        return format(value, "f") if isinstance(value, Decimal) else field.to_representation(value)

    return convert


def _utc_text(field: serializers.Field) -> Callable[[Any], Any]:
    # TIME_ZONE is UTC, so DRF's ISO 8601 output is iso_z's.
    def convert(value):
        return iso_z(value) if hasattr(value, "astimezone") else field.to_representation(value)

    return convert


def _choice(field: serializers.ChoiceField) -> Callable[[Any], Any]:
    # DRF's own lookup, without its method call per value.
    lookup = field.choice_strings_to_values.get

    def convert(value):
        if isinstance(value, Enum):
            return field.to_representation(value)
        return value if value == "" else lookup(str(value), value)

    return convert


def _boolean(field: serializers.BooleanField) -> Callable[[Any], Any]:
    # A bool is itself; anything else ("true", 1, "off") goes through DRF's tables.
    def convert(value):
        return value if value is True or value is False else field.to_representation(value)

    return convert


# Field classes (exactly these) whose output is a plain conversion of the attribute.
_FAST_CONVERSIONS: dict[type, Callable[[serializers.Field], Callable[[Any], Any]]] = {
    serializers.IntegerField: lambda field: int,
    serializers.CharField: lambda field: str,
    DecimalString: _decimal_text,
    serializers.DateTimeField: _utc_text,
    serializers.ChoiceField: _choice,
    serializers.BooleanField: _boolean,
}


def _reader(field: serializers.Field) -> Callable[[Any], Any]:
    """The attribute at the field's source; DRF's own lookup wherever a plain read is not the
    whole story (a null relation on the way, a method to call, a dict, a missing row)."""
    plain_read = attrgetter(".".join(field.source_attrs))

    def read(instance):
        try:
            value = plain_read(instance)
        except (AttributeError, ObjectDoesNotExist):
            return field.get_attribute(instance)
        return field.get_attribute(instance) if callable(value) else value

    return read


def _column(field: serializers.Field) -> str | None:
    """The field's source as an ORM lookup; None where it is no column (`*`, a method)."""
    return "__".join(field.source_attrs) if field.source_attrs else None


class FlatOutput(serializers.Serializer):
    """An output serializer rendered without DRF's per-field machinery: each field's read and
    conversion are chosen once per class. For rows listed by the hundred (catalog pages),
    where that machinery would cost more than the query (`make bench ARGS=serialize`). The
    fields stay the one description of the output (the schema reads them); a field with no
    plain conversion here renders through its own `to_representation`, and None stays None,
    as with DRF. Only for fields that need no request context."""

    _plans: dict[type, list] = {}

    def to_representation(self, instance):
        rendered = {}
        for name, read, _, convert in self._plan():
            try:
                value = read(instance)
            except SkipField:
                continue
            rendered[name] = None if value is None else convert(value)
        return rendered

    @classmethod
    def columns(cls) -> tuple[str, ...]:
        """The ORM lookups of its fields ("provider.slug" is `provider__slug`): what a
        `.values(*columns())` query fetches for `render_values`."""
        columns = tuple(column for _, _, column, _ in cls()._plan())
        if None in columns:
            raise TypeError(f"{cls.__name__} has a field that is no column: no values() rows")
        return columns

    @classmethod
    def render_values(cls, rows) -> list[dict]:
        """Rows of `.values(*columns())` rendered as `many=True` renders the model instances
        they come from, the same output, without building the instances (nor decoding the
        columns no field reads)."""
        plan = cls()._plan()
        return [
            {
                name: None if (value := row[column]) is None else convert(value)
                for name, _, column, convert in plan
            }
            for row in rows
        ]

    def _plan(self) -> list:
        plan = self._plans.get(type(self))
        if plan is None:
            plan = [
                (field.field_name, _reader(field), _column(field), self._conversion(field))
                for field in self._readable_fields
            ]
            self._plans[type(self)] = plan
        return plan

    @staticmethod
    def _conversion(field: serializers.Field) -> Callable[[Any], Any]:
        fast = _FAST_CONVERSIONS.get(type(field))
        if fast is None or getattr(field, "format", None) not in (None, "iso-8601"):
            return field.to_representation
        return fast(field)


class ErrorDetailOutput(serializers.Serializer):
    code = serializers.CharField(help_text="Stable: a program can branch on it.")
    message = serializers.CharField(help_text="For people: what went wrong and what to do.")


class ErrorOutput(serializers.Serializer):
    """Every 4xx body (common.api.errors); some codes add fields beside code and message
    (`invalid_query`: `position`, `hint`; `validation_error`: `fields`; `throttled`:
    `retry_after`)."""

    error = ErrorDetailOutput()


def with_errors(responses, *statuses: int) -> dict:
    """`responses` for extend_schema (a serializer for 200, or {status: serializer}) with the
    error statuses every API view may answer (429: common/api/throttles.py), and the view's
    own (`402`, `409`...)."""
    documented = responses if isinstance(responses, dict) else {200: responses}
    return documented | dict.fromkeys((400, 401, 403, 404, 429, *statuses), ErrorOutput)
