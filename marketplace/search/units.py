"""Numbers with units: sizes in GB, prices per hour, ratios and durations.

Catalog columns hold one unit each (GB, money per hour, seconds for ages); every value a user
types is converted into that unit here, so the compiler only ever compares like with like.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from .errors import QueryError

# ASCII digits only: str.isdigit() and \d accept other scripts' digits, which Decimal would
# then happily read; a query is a machine-ish string and should stay unambiguous.
NUMBER_PATTERN = re.compile(r"([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(.*)", re.DOTALL)
MAX_INTEGER_DIGITS = 12
MAX_FRACTION_DIGITS = 6


@dataclass(frozen=True)
class Unit:
    """A family of suffixes and the factor each one converts by into the catalog unit."""

    name: str
    factors: dict[str, Decimal]
    hint: str
    bare_allowed: bool = True  # a number without suffix is already in the catalog unit

    def convert(self, number: Decimal, suffix: str, position: int) -> Decimal:
        factor = self.factors.get(suffix.lower())
        if factor is None or (suffix == "" and not self.bare_allowed):
            shown = f"unit {suffix!r}" if suffix else "a number without a unit"
            raise QueryError(
                f"Expected {self.name}, got {shown}.", position=position, hint=self.hint
            )
        return number * factor


# Providers write "GB" and "GiB" interchangeably for the same memory (an "80GB" H100 has
# 80 GiB), so both mean the catalog's gigabyte; were GB taken as 10^9 bytes, vram>=80GB would
# miss the very cards it names. The T and M prefixes scale by 1000 or 1024 as written, so
# disk>=1TB still matches a 1000 GB disk.
SIZE = Unit(
    name="a size",
    factors={
        "": Decimal(1),
        "g": Decimal(1),
        "gb": Decimal(1),
        "gi": Decimal(1),
        "gib": Decimal(1),
        "t": Decimal(1000),
        "tb": Decimal(1000),
        "ti": Decimal(1024),
        "tib": Decimal(1024),
        "m": Decimal("0.001"),
        "mb": Decimal("0.001"),
        "mi": Decimal(1) / Decimal(1024),
        "mib": Decimal(1) / Decimal(1024),
    },
    hint="Sizes are in GB by default; units: MB, MiB, GB, GiB, TB, TiB (e.g. vram>=80GB).",
)
SIZE_WITH_UNIT = Unit(
    name="a size with a unit",
    factors=SIZE.factors,
    hint="Write a size with its unit, e.g. 80GB, 512GiB or 1TB.",
    bare_allowed=False,
)
PRICE_PER_HOUR = Unit(
    name="a price per hour",
    factors={suffix: Decimal(1) for suffix in ("", "/h", "/hr", "/hour")},
    hint="Prices are per hour: 3.5, 3.5/h or $3.5/h.",
)
COUNT = Unit(name="a plain number", factors={"": Decimal(1)}, hint="Write a plain number, e.g. 4.")
RATIO = Unit(
    name="a ratio",
    factors={"": Decimal(1), "%": Decimal("0.01")},
    hint="Write a fraction from 0 to 1 or a percentage: 0.99 or 99%.",
)
DURATION_SECONDS = Unit(
    name="a duration",
    factors={"s": Decimal(1), "m": Decimal(60), "h": Decimal(3600), "d": Decimal(86400)},
    hint="Give the unit: s, m, h or d (e.g. observed<1h).",
    bare_allowed=False,
)


def parse_quantity(text: str, unit: Unit, position: int) -> Decimal:
    """Read `text` such as "80GB" or "$3.5/h" and return it in the catalog unit."""
    body = _strip_currency(text) if unit is PRICE_PER_HOUR else text
    offset = len(text) - len(body)
    number, suffix = split_number(body, position + offset)
    return unit.convert(number, suffix, position + offset + len(body) - len(suffix))


def split_number(text: str, position: int) -> tuple[Decimal, str]:
    match = NUMBER_PATTERN.fullmatch(text)
    if not match:
        raise QueryError(f"Expected a number, got {text!r}.", position=position)
    digits = match.group(1)
    whole, _, fraction = digits.lstrip("+-").partition(".")
    if len(whole) > MAX_INTEGER_DIGITS or len(fraction) > MAX_FRACTION_DIGITS:
        raise QueryError(
            f"The number {digits} is too long.",
            position=position,
            hint=f"Use at most {MAX_INTEGER_DIGITS} digits before the point"
            f" and {MAX_FRACTION_DIGITS} after it.",
        )
    return Decimal(digits), match.group(2)


def _strip_currency(text: str) -> str:
    # "$3.5/h", "3.5$/h" and "3.5$" all mean 3.5 per hour in the offer's currency.
    body = text.removeprefix("$")
    number = NUMBER_PATTERN.fullmatch(body)
    if number and number.group(2).startswith("$"):
        return number.group(1) + number.group(2)[1:]
    return body


def format_decimal(value: Decimal) -> str:
    """The shortest text that reads back as `value`: 80, 0.5, 1000."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
