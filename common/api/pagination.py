"""Pagination of every list, API and pages: limits, opaque cursors and keyset conditions."""

from __future__ import annotations

import base64
import json
from decimal import Decimal

from django.db.models import Q

from common.errors import DomainError


def parse_limit(raw: str | None, *, default: int = 50, maximum: int = 500) -> int:
    if raw in (None, ""):
        return default
    # ASCII digits only (str.isdigit() takes "²", which int() refuses), and no longer than the
    # maximum (int() refuses more than 4300 digits): both were 500s.
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
