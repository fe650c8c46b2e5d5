"""Shared API pieces: the JSON parser, strict input serializers, keyset pagination, throttles."""

from __future__ import annotations

import base64
import json
from decimal import Decimal

from django.db.models import Q
from rest_framework import serializers
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.throttling import AnonRateThrottle

from config.api_errors import ApiError

# No request body of ours nests more than a few levels; a limit far below Python's recursion
# limit keeps every later walk of the data (validation, json.dumps, the jsonb adapter) safe.
MAX_JSON_DEPTH = 64


class JsonParser(JSONParser):
    """DRF's JSON parser, refusing bodies nested deeper than MAX_JSON_DEPTH with a 400.

    Python's decoder recurses once per level: `[[[[...` a few thousand deep raised
    RecursionError, which DRF does not catch (a 500)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise _too_deep() from None
        if _nested_deeper_than(data, MAX_JSON_DEPTH):
            raise _too_deep()
        return data


def _too_deep() -> ParseError:
    return ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels.")


def _nested_deeper_than(value, limit: int) -> bool:
    # A loop, not recursion: the point is to never recurse as deep as the data does.
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


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
    # ASCII digits only (str.isdigit() takes "²", which int() refuses), and no longer than the
    # maximum (int() refuses more than 4300 digits): both were 500s.
    digits = str(raw).lstrip("0")
    plain = digits.isascii() and digits.isdigit() and len(digits) <= len(str(maximum))
    if not plain or not 1 <= int(digits) <= maximum:
        raise ApiError("invalid_limit", f"limit must be an integer from 1 to {maximum}.")
    return int(digits)


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
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: `[[[[...` forged
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
