"""Percentiles per day of values that each hold over a range of days, without listing every
(value, day) pair: the price index's arithmetic (marketplace/selectors/price_index.py).

Ninety days of a GPU model with a hundred thousand offers are nine million (price, day)
pairs; sorting them per day in PostgreSQL took twenty seconds (bench/price_index.py). Here
each price is one `Span` of days instead. The days are swept in order, a span's count going
into a Fenwick tree (a binary indexed tree of counts over the distinct values, in order) on its
first day and out after its last; a percentile is then the k-th value, found in log(values)
steps. Most spans start before the window: the first day's counts are built in one pass.

The percentiles are those of PostgreSQL's `percentile_cont` and numpy's default: over n
sorted values v0..v(n-1), the p-th sits at rank h = p (n - 1), v[floor h] + (h - floor h)
(v[floor h + 1] - v[floor h]). Values are integers (millionths of a dollar) and p is in tenths,
so the result is exact.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple


class Span(NamedTuple):
    """A value over a range of days (a tuple: a hundred thousand are made per index)."""

    value: int
    group: int  # counted distinct per day (a provider)
    first: int  # day index, 0 = the window's first day
    last: int  # inclusive


@dataclass(frozen=True)
class DayFigures:
    percentiles: tuple[Decimal, ...] | None  # one per asked tenth; None on a day without values
    count: int
    groups: int


def daily_percentiles(spans: Iterable[tuple], *, days: int, tenths: tuple[int, ...]):
    """For each day 0..days-1, the `tenths` percentiles (1 = P10, 5 = median, 9 = P90) of the
    values of the spans (`Span`s or tuples in its order) covering it, their number and their
    distinct groups."""
    spans = [s for s in spans if s[2] <= s[3] and s[2] < days and s[3] >= 0]
    values = sorted({s[0] for s in spans})
    position = {value: index for index, value in enumerate(values)}
    from_start = [s for s in spans if s[2] <= 0]
    starting, ending = defaultdict(list), defaultdict(list)
    for span in spans:
        if span[2] > 0:
            starting[span[2]].append(span)
        if span[3] < days - 1:  # most run to the window's end
            ending[span[3] + 1].append(span)
    counts = _Counts(len(values))
    counts.build(position[s[0]] for s in from_start)
    groups = _DistinctGroups(Counter(s[1] for s in from_start))
    out = [_figures(counts, values, tenths, groups.distinct)]
    for day in range(1, days):
        for value, group, _, _ in ending.get(day, ()):
            counts.add(position[value], -1)
            groups.add(group, -1)
        for value, group, _, _ in starting.get(day, ()):
            counts.add(position[value], 1)
            groups.add(group, 1)
        out.append(_figures(counts, values, tenths, groups.distinct))
    return out


def _figures(counts: _Counts, values: list[int], tenths, distinct: int) -> DayFigures:
    total = counts.total
    if total == 0:
        return DayFigures(None, 0, 0)
    found = []
    for tenth in tenths:
        rank, fraction = divmod((total - 1) * tenth, 10)
        low = values[counts.kth(rank)]
        if fraction:
            high = values[counts.kth(rank + 1)]
            found.append(Decimal(low) + Decimal(fraction) * (high - low) / 10)
        else:
            found.append(Decimal(low))
    return DayFigures(tuple(found), total, distinct)


class _Counts:
    """How many of each value (by position in the sorted values): a Fenwick tree."""

    def __init__(self, size: int):
        self.size = size
        self.tree = [0] * (size + 1)
        self.total = 0
        self.top = 1 << size.bit_length() if size else 0

    def build(self, positions: Iterable[int]) -> None:
        """Add one at each position, all at once (O(size)), into an empty tree."""
        tree = self.tree
        for position in positions:
            tree[position + 1] += 1
            self.total += 1
        for index in range(1, self.size + 1):
            parent = index + (index & -index)
            if parent <= self.size:
                tree[parent] += tree[index]

    def add(self, position: int, count: int) -> None:
        self.total += count
        index = position + 1
        while index <= self.size:
            self.tree[index] += count
            index += index & -index

    def kth(self, rank: int) -> int:
        """The position of the value at `rank` (0 = the smallest) in sorted order."""
        index, remaining, step = 0, rank + 1, self.top
        while step:
            ahead = index + step
            if ahead <= self.size and self.tree[ahead] < remaining:
                index = ahead
                remaining -= self.tree[ahead]
            step >>= 1
        return index  # the 1-based index of the value, less one


class _DistinctGroups:
    def __init__(self, counts: Counter):
        self.counts = counts
        self.distinct = sum(1 for count in counts.values() if count > 0)

    def add(self, group: int, count: int) -> None:
        before = self.counts[group]
        self.counts[group] = before + count
        self.distinct += (before + count > 0) - (before > 0)
