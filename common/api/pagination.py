"""Pagination of every list, API and pages: limits, opaque cursors and keyset conditions."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from drf_spectacular.utils import OpenApiParameter

from common.errors import DomainError


def parse_limit(raw: str | None, *, default: int = 50, maximum: int = 500) -> int:
    if raw in (None, ""):
        return default
    # ASCII digits only (str.isdigit() takes "²", which int() refuses), and no longer than the
    # maximum (int() refuses more than 4300 digits): either would raise instead of a 400.
    digits = str(raw).lstrip("0")
    plain = digits.isascii() and digits.isdigit() and len(digits) <= len(str(maximum))
    if not plain or not 1 <= int(digits) <= maximum:
        raise DomainError("invalid_limit", f"limit must be an integer from 1 to {maximum}.")
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
        raise DomainError("invalid_cursor", "The cursor is malformed.") from None
    if not isinstance(values, list) or len(values) != size:
        raise DomainError("invalid_cursor", "The cursor does not belong to this sort order.")
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


# --- one paginator for every list ------------------------------------------------------


@dataclass(frozen=True)
class Keyset:
    """A list's order as keyset columns, [(field, descending)...] ending with a unique one.

    `signature` (optional) leads every cursor, so that a cursor made for another order of the
    same rows (the catalog's sorts) is refused instead of silently skipping rows."""

    order: tuple[tuple[str, bool], ...]
    signature: str | None = None

    def order_by(self) -> list[str]:
        return [("-" if descending else "") + field for field, descending in self.order]

    def cursor_for(self, row) -> str:
        """The cursor after `row`: a model instance, or a `.values()` row holding the order's
        columns."""
        if isinstance(row, dict):
            values = [row[field] for field, _ in self.order]
        else:
            values = [getattr(row, field) for field, _ in self.order]
        return encode_cursor(values if self.signature is None else [self.signature, *values])

    def after(self, cursor: str, queryset: QuerySet) -> Q:
        """The condition for rows strictly after the cursor's row; a forged cursor raises
        invalid_cursor (never a database error)."""
        values = decode_cursor(cursor, len(self.order) + (self.signature is not None))
        if self.signature is not None and values.pop(0) != self.signature:
            raise DomainError("invalid_cursor", "The cursor does not belong to this sort order.")
        if any(isinstance(v, (list, dict)) for v in values):
            raise DomainError("invalid_cursor", "The cursor is malformed.")
        try:
            condition = keyset_after(list(self.order), values)
            queryset.filter(condition)  # each value is checked against its field here
        except (ValueError, TypeError, ValidationError):
            raise DomainError("invalid_cursor", "The cursor is malformed.") from None
        return condition


# The orders most lists use: by id, the unique key every table has.
OLDEST_FIRST = Keyset((("id", False),))
NEWEST_FIRST = Keyset((("id", True),))


@dataclass(frozen=True)
class CursorPage:
    rows: list
    next: str | None  # None only on the last page


def page_from(rows: list, *, limit: int, cursor_for: Callable[[Any], str]) -> CursorPage:
    """The page of `rows` fetched as limit + 1: the extra row only says there is a next page."""
    if len(rows) <= limit:
        return CursorPage(rows, None)
    rows = rows[:limit]
    return CursorPage(rows, cursor_for(rows[-1]))


def paginate(queryset: QuerySet, *, keyset: Keyset, limit: int, cursor: str | None) -> CursorPage:
    """One page of `queryset` in the keyset's order, after `cursor`: one query, which an
    index on the keyset's columns serves as one range scan however deep the page."""
    if cursor:
        queryset = queryset.filter(keyset.after(cursor, queryset))
    rows = list(queryset.order_by(*keyset.order_by())[: limit + 1])
    return page_from(rows, limit=limit, cursor_for=keyset.cursor_for)


def page_params(params) -> tuple[int, str | None]:
    """(limit, cursor) from a request's query string: `limit` 1..500 (default 50)."""
    return parse_limit(params.get("limit")), params.get("cursor") or None


# The query parameters of every paged list, for the schema.
PAGE_PARAMETERS = [
    OpenApiParameter(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": 500},
        description="Page size, 1..500 (default 50).",
    ),
    OpenApiParameter("cursor", str, description="The `next` cursor of the previous page."),
]
