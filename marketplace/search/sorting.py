"""`sort=price,-gpus`: sort keys on numeric fields, `-` for descending, a stable tiebreak."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import F, Value
from django.db.models.functions import Coalesce

from .errors import INVALID_SORT, QueryError
from .fields import ALIASES, FIELDS, Age, lookup_field
from .values import closest

MAX_SORT_LENGTH = 200
MAX_SORT_KEYS = 8
DEFAULT_SORT = "gpu_price"
# Ties are broken by id, in the direction of the last key: then one index on (column, id)
# serves the sort both ways (read backwards for descending).
TIEBREAK = "id"
# Sorting on an expression goes through an annotation, so that keyset pagination can
# compare the same named value in its WHERE clause. NULL reliability (unknown) sorts as the
# lowest: keyset comparisons with NULL would silently drop rows.
ANNOTATIONS = {
    "total_vram": ("sort_total_vram", F("gpu_count") * F("gpu_memory_gb")),
    "reliability": ("sort_reliability", Coalesce(F("reliability"), Value(Decimal(-1)))),
}
KEY_PATTERN = re.compile(r"\s*([+-]?)\s*([^,]*?)\s*(?:,|$)")


@dataclass(frozen=True)
class SortKey:
    field: str  # the filter-language name, e.g. "gpu_price"
    descending: bool


@dataclass(frozen=True)
class Sort:
    keys: tuple[SortKey, ...]

    @property
    def order(self) -> list[tuple[str, bool]]:
        """[(column or annotation, descending), ...], ending with ("id", <the direction of
        the last key>): the shape that keyset pagination compares."""
        items = [_order_item(key) for key in self.keys]
        return items + [(TIEBREAK, items[-1][1])]

    @property
    def annotations(self) -> dict:
        names = (ANNOTATIONS.get(key.field) for key in self.keys)
        return dict(name for name in names if name)

    def order_by(self) -> list[str]:
        return [("-" if descending else "") + name for name, descending in self.order]

    def apply(self, queryset):
        return queryset.annotate(**self.annotations).order_by(*self.order_by())


def parse_sort(text: str | None) -> Sort:
    """Parse `price,-gpus`; an empty text gives the default (price per GPU-hour ascending)."""
    if not (text or "").strip():
        text = DEFAULT_SORT
    if len(text) > MAX_SORT_LENGTH:
        raise _sort_error(f"Longer than {MAX_SORT_LENGTH} characters.", MAX_SORT_LENGTH)
    keys: list[SortKey] = []
    for match in KEY_PATTERN.finditer(text):
        if match.end() == match.start():
            break
        keys.append(_sort_key(match, keys))
    return Sort(tuple(keys))


def _sort_key(match: re.Match, previous: list[SortKey]) -> SortKey:
    sign, name = match.group(1), match.group(2)
    position = match.start(2)
    if not name:
        raise _sort_error("Empty sort key.", position, hint="Separate keys with one comma.")
    field = lookup_field(name)
    if field is None or not field.sortable:
        raise _sort_error(f"Cannot sort by {name!r}.", position, hint=_sortable_hint(name))
    if any(key.field == field.name for key in previous):
        raise _sort_error(f"{field.name} is listed twice.", position)
    if len(previous) >= MAX_SORT_KEYS:
        raise _sort_error(f"More than {MAX_SORT_KEYS} sort keys.", position)
    return SortKey(field.name, sign == "-")


def _order_item(key: SortKey) -> tuple[str, bool]:
    if key.field in ANNOTATIONS:
        return ANNOTATIONS[key.field][0], key.descending
    target = FIELDS[key.field].target
    if isinstance(target, Age):
        # Sorting by age ascending is newest first: the timestamp descending.
        return target.column, not key.descending
    return target.name, key.descending


def _sortable_hint(name: str) -> str:
    sortable = [name for name, field in FIELDS.items() if field.sortable]
    aliases = [alias for alias, name in ALIASES.items() if FIELDS[name].sortable]
    guess = closest(name, sortable + aliases)
    known = "Sortable: " + ", ".join(sortable) + "."
    return f"Did you mean {ALIASES.get(guess, guess)}? {known}" if guess else known


def _sort_error(message: str, position: int, hint: str = "") -> QueryError:
    return QueryError(message, position=position, hint=hint, code=INVALID_SORT)
