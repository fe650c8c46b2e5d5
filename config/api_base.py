"""Shared API pieces: strict input serializers, keyset pagination, throttles."""

from __future__ import annotations

import base64
import json
from decimal import Decimal

from django.db.models import Q
from rest_framework import serializers
from rest_framework.throttling import AnonRateThrottle

from config.api_errors import ApiError


class StrictSerializer(serializers.Serializer):
    """Input serializer that refuses fields it does not know (typos must not pass silently)."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise ApiError("invalid_body", "The request body must be a JSON object.")
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise ApiError(
                "unknown_field",
                f"Unknown field(s): {', '.join(unknown)}. Known: {', '.join(sorted(self.fields))}.",
                fields=unknown,
            )
        return super().to_internal_value(data)


class CatalogThrottle(AnonRateThrottle):
    scope = "catalog"

    def get_cache_key(self, request, view):
        ident = (
            request.auth.prefix
            if getattr(request.auth, "prefix", None)
            else self.get_ident(request)
        )
        return self.cache_format % {"scope": self.scope, "ident": ident}


def parse_limit(raw: str | None, *, default: int = 50, maximum: int = 500) -> int:
    if raw in (None, ""):
        return default
    if not str(raw).isdigit() or not 1 <= int(raw) <= maximum:
        raise ApiError("invalid_limit", f"limit must be an integer from 1 to {maximum}.")
    return int(raw)


# --- keyset (cursor) pagination --------------------------------------------------------
# A cursor is the sort values of the last row shown, so the next page is one indexed range
# scan however deep the buyer pages, and rows inserted meanwhile never shift the pages.


def encode_cursor(values: list) -> str:
    raw = json.dumps([str(v) if isinstance(v, Decimal) else v for v in values], default=str)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, size: int) -> list:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        raise ApiError("invalid_cursor", "The cursor is malformed.") from None
    if not isinstance(values, list) or len(values) != size:
        raise ApiError("invalid_cursor", "The cursor does not belong to this sort order.")
    return values


def keyset_after(order: list[tuple[str, bool]], values: list) -> Q:
    """Rows strictly after `values` in `order` ([(field, descending)...], unique last)."""
    condition = Q()
    equal_so_far = Q()
    for (field, descending), value in zip(order, values, strict=True):
        op = "lt" if descending else "gt"
        condition |= equal_so_far & Q(**{f"{field}__{op}": value})
        equal_so_far &= Q(**{field: value})
    # The same rows, with the first key's bound said on its own: PostgreSQL cannot start an
    # index range from an OR, and without it every page would walk the index from the top.
    (first, descending), start = order[0], values[0]
    return Q(**{f"{first}__{'lte' if descending else 'gte'}": start}) & condition
