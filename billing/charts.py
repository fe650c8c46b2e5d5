"""Bar charts drawn on the server as SVG geometry for a template (templates/billing/bars.svg.html):
no script, and no inline style, which the Content-Security-Policy refuses; the sizes are SVG
presentation attributes."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

CHART_HEIGHT = 160
BAR_WIDTH = 20
BAR_GAP = 6


@dataclass(frozen=True)
class Bar:
    x: int
    y: Decimal
    width: int
    height: Decimal
    label: str
    amount: Decimal


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    bars: list[Bar]


def bar_chart(rows, *, height: int = CHART_HEIGHT) -> BarChart:
    """One bar per row (`label`, `amount`), scaled so the largest fills the height; amounts
    at or below zero (a month of credits) draw no bar."""
    top = max((row.amount for row in rows), default=Decimal(0))
    bars = []
    for index, row in enumerate(rows):
        size = (Decimal(height) * row.amount / top).quantize(Decimal("0.1")) if top > 0 else 0
        size = max(size, Decimal(0))
        bars.append(
            Bar(
                x=index * (BAR_WIDTH + BAR_GAP),
                y=Decimal(height) - size,
                width=BAR_WIDTH,
                height=size,
                label=row.label,
                amount=row.amount,
            )  # fmt: skip
        )
    return BarChart(width=max(len(rows) * (BAR_WIDTH + BAR_GAP), 1), height=height, bars=bars)
