"""Catalog lookups the compiler needs: GPU and provider ids for names, vendors, patterns.

Filters on GPU or provider attributes compile to `gpu_id__in=[...]` / `provider_id__in=[...]`
instead of joins, which keeps a search over a million offers on the offer table's own
indexes. The few hundred catalog rows are matched in Python, here, so the matching rules are
tested without a database; `resolver.DatabaseResolver` only loads the rows.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Protocol

Version = tuple[int, int]
# ("gte", (8, 0)) means compute capability >= 8.0; ops as in the filter language.
CapabilityBound = tuple[str, Version]

COMPARISONS: dict[str, Callable[[Version, Version], bool]] = {
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
    "eq": operator.eq,
}


class CatalogResolver(Protocol):
    def gpu_ids(
        self,
        *,
        names: Collection[str] = (),
        patterns: Collection[str] = (),
        vendors: Collection[str] = (),
        compute_cap: CapabilityBound | None = None,
    ) -> frozenset[int]:
        """Ids of GPU models matching every criterion given.

        `names` (canonical, compared case-insensitively) and `patterns` (`*` wildcards) are
        alternatives: a model matches if it matches any of them.
        """
        ...

    def provider_ids(
        self, *, slugs: Collection[str] = (), patterns: Collection[str] = ()
    ) -> frozenset[int]:
        """Ids of providers whose slug is one of `slugs` or matches one of `patterns`."""
        ...


@dataclass(frozen=True)
class GpuRow:
    id: int
    name: str
    vendor: str
    compute_capability: str = ""  # "9.0"; blank when unknown


@dataclass(frozen=True)
class ProviderRow:
    id: int
    slug: str


# Answers kept per snapshot: matching a pattern against every GPU row costs about a
# millisecond, and the same few questions come back on every search. Bounded, because the
# questions come from user text.
ANSWERS_KEPT = 1024


class SnapshotResolver:
    """A CatalogResolver over rows held in memory (tests build one by hand)."""

    def __init__(self, gpus: Iterable[GpuRow] = (), providers: Iterable[ProviderRow] = ()):
        self.gpus = tuple(gpus)
        self.providers = tuple(providers)
        self._answers: dict[tuple, frozenset[int]] = {}

    def gpu_ids(self, *, names=(), patterns=(), vendors=(), compute_cap=None) -> frozenset[int]:
        key = ("gpu", tuple(names), tuple(patterns), tuple(vendors), compute_cap)
        return self._remembered(key, lambda: self._gpu_ids(names, patterns, vendors, compute_cap))

    def provider_ids(self, *, slugs=(), patterns=()) -> frozenset[int]:
        key = ("provider", tuple(slugs), tuple(patterns))
        return self._remembered(key, lambda: self._provider_ids(slugs, patterns))

    def _remembered(self, key: tuple, answer) -> frozenset[int]:
        found = self._answers.get(key)
        if found is None:
            found = answer()
            if len(self._answers) >= ANSWERS_KEPT:
                self._answers.clear()
            self._answers[key] = found
        return found

    def _gpu_ids(self, names, patterns, vendors, compute_cap) -> frozenset[int]:
        checks = []
        if names or patterns:
            checks.append(_name_matcher(names, patterns))
        if vendors:
            wanted_vendors = {vendor.lower() for vendor in vendors}
            checks.append(lambda row: row.vendor.lower() in wanted_vendors)
        if compute_cap is not None:
            checks.append(_capability_matcher(compute_cap))
        return frozenset(row.id for row in self.gpus if all(check(row) for check in checks))

    def _provider_ids(self, slugs, patterns) -> frozenset[int]:
        matches = _text_matcher(slugs, patterns)
        return frozenset(row.id for row in self.providers if matches(row.slug))


def _name_matcher(names: Collection[str], patterns: Collection[str]):
    # Canonical names are written without spaces (RTX4090), so a pattern like RTX_40* (read
    # as "RTX 40*") is compared with spaces, dashes and underscores squeezed out.
    matches = _text_matcher(names, [_compact(pattern) for pattern in patterns])
    return lambda row: matches(row.name) or matches(_compact(row.name))


def _compact(text: str) -> str:
    return re.sub(r"[\s_-]+", "", text)


def _text_matcher(exact: Collection[str], patterns: Collection[str]) -> Callable[[str], bool]:
    wanted = {text.casefold() for text in exact}
    split_patterns = [pattern.casefold().split("*") for pattern in patterns]

    def matches(text: str) -> bool:
        folded = text.casefold()
        return folded in wanted or any(wildcard_match(parts, folded) for parts in split_patterns)

    return matches


def wildcard_match(parts: list[str], text: str) -> bool:
    """Does `text` match the pattern that `parts` were split from on `*`?

    Taking each middle part at its leftmost place is always right for `*`-only patterns, so
    this is linear where a backtracking regex can take exponential time.
    """
    if len(parts) == 1:
        return text == parts[0]
    first, *middle, last = parts
    if not text.startswith(first):
        return False
    position = len(first)
    for part in middle:
        found = text.find(part, position)
        if found < 0:
            return False
        position = found + len(part)
    return len(text) - position >= len(last) and text.endswith(last)


def _capability_matcher(bound: CapabilityBound):
    compare = COMPARISONS[bound[0]]

    def matches(row: GpuRow) -> bool:
        version = parse_version(row.compute_capability)
        return version is not None and compare(version, bound[1])

    return matches


def parse_version(text: str | None) -> Version | None:
    match = re.fullmatch(r"\s*([0-9]+)(?:\.([0-9]+))?\s*", text or "")
    return (int(match.group(1)), int(match.group(2) or 0)) if match else None
