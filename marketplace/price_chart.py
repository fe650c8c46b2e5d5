"""The price index's line chart, drawn on the server as SVG geometry for a template
(templates/marketplace/price_chart.svg.html): no script and no inline style, which the
Content-Security-Policy refuses; colours are classes in static/css/site.css."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from marketplace.selectors.price_index import PriceIndexDay

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 28  # room for the axis labels
SERIES = (("p90", "P90"), ("median", "Median"), ("p10", "P10"))
TICKS = 4  # about this many steps on the price axis
NICE_STEPS = (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10))


@dataclass(frozen=True)
class Line:
    key: str  # p10, median, p90: the CSS class
    label: str
    path: str  # SVG path data; a day without offers breaks the line
    dots: list[tuple[float, float]]  # points with no neighbour, which a path would not show


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class LineChart:
    width: int
    height: int
    lines: list[Line]
    price_ticks: list[Tick]  # y
    day_ticks: list[Tick]  # x
    plot_left: int
    plot_right: int
    plot_bottom: int


def price_chart(rows: list[PriceIndexDay]) -> LineChart | None:
    """P10, median and P90 by day; None when no day has an offer."""
    prices = [getattr(r, key) for r in rows for key, _ in SERIES if getattr(r, key) is not None]
    if not prices:
        return None
    low, high, step = _price_axis(min(prices), max(prices))

    def x(index: int) -> float:
        return round(LEFT + index * (WIDTH - LEFT - RIGHT) / max(len(rows) - 1, 1), 1)

    def y(price: Decimal) -> float:
        return round(
            float(HEIGHT - BOTTOM - (price - low) * (HEIGHT - TOP - BOTTOM) / (high - low)), 1
        )

    lines = [_line(key, label, rows, x, y) for key, label in SERIES]
    price_ticks = []
    value = low
    while value <= high:
        price_ticks.append(Tick(y(value), f"{value:.2f}"))
        value += step
    day_ticks = [Tick(x(i), rows[i].day.strftime("%b %d")) for i in _day_tick_indexes(len(rows))]
    return LineChart(
        WIDTH, HEIGHT, lines, price_ticks, day_ticks, LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM
    )


def _line(key: str, label: str, rows: list[PriceIndexDay], x, y) -> Line:
    runs: list[list[tuple[float, float]]] = [[]]
    for index, row in enumerate(rows):
        price = getattr(row, key)
        if price is None:
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append((x(index), y(price)))
    path = " ".join("M" + " L".join(f"{px} {py}" for px, py in run) for run in runs if len(run) > 1)
    dots = [run[0] for run in runs if len(run) == 1]
    return Line(key, label, path, dots)


def _price_axis(low: Decimal, high: Decimal) -> tuple[Decimal, Decimal, Decimal]:
    """A range from a round number below `low` to one above `high`, in round steps."""
    span = high - low or max(high / 10, Decimal("0.01"))
    rough = span / TICKS
    magnitude = Decimal(1).scaleb(rough.adjusted())
    step = next(s * magnitude for s in NICE_STEPS if s * magnitude >= rough)
    bottom = (low / step).to_integral_value(ROUND_FLOOR) * step
    top = (high / step).to_integral_value(ROUND_CEILING) * step
    if top == bottom:
        top += step
    return max(bottom, Decimal(0)), top, step


def _day_tick_indexes(days: int) -> list[int]:
    """First, last and a few between: about five dates along the axis."""
    if days <= 1:
        return [0]
    every = max(1, round((days - 1) / 4))
    indexes = list(range(0, days - 1, every))
    if days - 1 - indexes[-1] < every / 2:
        indexes.pop()
    return [*indexes, days - 1]
