"""The sweep behind the price index against the plain way: every (value, day) pair listed,
each day's values sorted, the percentile read off by its definition."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from marketplace.price_percentiles import DayFigures, Span, daily_percentiles

DAYS = 12
TENTHS = (1, 5, 9)


def _plain(spans: list[Span], day: int) -> DayFigures:
    values = sorted(s.value for s in spans if s.first <= day <= s.last)
    if not values:
        return DayFigures(None, 0, 0)
    found = []
    for tenth in TENTHS:
        rank = Fraction(tenth, 10) * (len(values) - 1)
        low = int(rank)
        high = values[min(low + 1, len(values) - 1)]
        exact = values[low] + (rank - low) * (high - values[low])
        found.append(Decimal(exact.numerator) / Decimal(exact.denominator))
    groups = len({s.group for s in spans if s.first <= day <= s.last})
    return DayFigures(tuple(found), len(values), groups)


spans_strategy = st.lists(
    st.builds(
        lambda value, group, first, length: Span(value, group, first, first + length),
        st.integers(0, 50),  # few values: ties
        st.integers(1, 4),
        st.integers(-3, DAYS + 2),  # some start before the window or after it
        st.integers(-1, DAYS),  # some are empty
    ),
    max_size=40,
)


@given(spans_strategy)
@settings(max_examples=300, deadline=None)
def test_each_day_is_what_sorting_that_days_values_gives(spans):
    assert daily_percentiles(spans, days=DAYS, tenths=TENTHS) == [
        _plain(spans, day) for day in range(DAYS)
    ]


def test_a_worked_example():
    # day 0: 1, 2, 4, 5 / day 1: 1, 2, 3, 5 / day 2: 1, 2, 3
    spans = [Span(1, 1, 0, 2), Span(2, 1, 0, 2), Span(4, 2, 0, 0), Span(3, 2, 1, 2),
             Span(5, 3, 0, 1)]  # fmt: skip

    figures = daily_percentiles(spans, days=3, tenths=TENTHS)

    assert figures == [
        DayFigures((Decimal("1.3"), Decimal(3), Decimal("4.7")), 4, 3),
        DayFigures((Decimal("1.3"), Decimal("2.5"), Decimal("4.4")), 4, 3),
        DayFigures((Decimal("1.2"), Decimal(2), Decimal("2.8")), 3, 2),
    ]
