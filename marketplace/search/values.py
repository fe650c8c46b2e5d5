"""Value types: what a field accepts after its operator, and how it reads and prints.

A type decides the valid operators and turns raw text into a typed value in the catalog's
unit (Decimal GB, Decimal per hour, canonical names...). Types know nothing of Django.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from .errors import QueryError
from .gpu_labels import canonical_gpu_name, suggest_gpu_name
from .lexer import WORD_BREAKS
from .units import (
    DURATION_SECONDS,
    Unit,
    format_decimal,
    parse_quantity,
)

ORDERING = frozenset({"lt", "lte", "gt", "gte"})
EQUALITY = frozenset({"eq", "neq"})
MEMBERSHIP = frozenset({"in", "notin"})
ALL_OPERATORS = ORDERING | EQUALITY | MEMBERSHIP
OPERATOR_SYMBOLS = {
    "lt": "<",
    "lte": "<=",
    "gt": ">",
    "gte": ">=",
    "eq": "=",
    "neq": "!=",
    "in": "in",
    "notin": "notin",
}
# Unquoted words that mean "no filter on this field" (Vast.ai's spelling).
ANY_WORDS = frozenset({"any", "*", "?"})
MAX_TEXT_LENGTH = 200
MAX_WILDCARDS = 4
MAX_AGE_SECONDS = Decimal(10 * 366 * 86400)  # far enough back for any catalog, and timedelta-safe


@dataclass(frozen=True, slots=True)
class RawValue:
    text: str
    quoted: bool
    position: int


class ValueType(Protocol):
    operators: frozenset[str]  # the operators this type allows, by name (lt, eq, in...)
    label: str  # for messages: "Operator '>' does not apply to region (text)"

    def parse(self, raw: RawValue) -> object:
        """The typed value, in the catalog's unit; QueryError at raw.position if invalid."""
        ...

    def format(self, value) -> str:
        """Text that parses back to `value`."""
        ...


@dataclass(frozen=True, slots=True)
class Wildcard:
    """A value with `*` wildcards, e.g. eu-* or *west*."""

    pattern: str

    def parts(self) -> list[str]:
        return self.pattern.split("*")

    def regex(self) -> str:
        return "^" + ".*".join(re.escape(part) for part in self.parts()) + "$"

    def shape(self) -> str:
        """eu-* startswith, *-1 endswith, *west* contains; anything else (us-*-1a) regex."""
        parts = self.parts()
        if len(parts) == 2 and not parts[1]:
            return "startswith"
        if len(parts) == 2 and not parts[0]:
            return "endswith"
        if len(parts) == 3 and not parts[0] and not parts[2]:
            return "contains"
        return "regex"


def operator_list(operators: frozenset[str]) -> str:
    ordered = [symbol for name, symbol in OPERATOR_SYMBOLS.items() if name in operators]
    return " ".join(ordered)


def quote_if_needed(text: str, *, underscores_matter: bool = False) -> str:
    plain = (
        text
        and not any(char.isspace() or char in WORD_BREAKS for char in text)
        and text.lower() not in ANY_WORDS
        and not (underscores_matter and "_" in text)
    )
    if plain:
        return text
    quote = "'" if '"' in text else '"'
    return f"{quote}{text}{quote}"


def closest(word: str, candidates) -> str | None:
    matches = difflib.get_close_matches(word.lower(), list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


@dataclass(frozen=True)
class NumberType:
    unit: Unit
    integer: bool = False
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    operators: frozenset[str] = ALL_OPERATORS
    label: str = "number"

    def parse(self, raw: RawValue) -> Decimal | int:
        quantity = parse_quantity(raw.text, self.unit, raw.position)
        self._check_range(quantity, raw)
        if not self.integer:
            return quantity
        if quantity != quantity.to_integral_value():
            raise QueryError(f"Expected a whole number, got {raw.text!r}.", position=raw.position)
        return int(quantity)

    def _check_range(self, quantity: Decimal, raw: RawValue) -> None:
        too_small = self.minimum is not None and quantity < self.minimum
        too_large = self.maximum is not None and quantity > self.maximum
        if too_small or too_large:
            raise QueryError(
                f"{raw.text!r} is out of range.",
                position=raw.position,
                hint=self.unit.hint,
            )

    def format(self, value: Decimal | int) -> str:
        return str(value) if isinstance(value, int) else format_decimal(value)


@dataclass(frozen=True)
class TextType:
    """Free text such as a region.

    With `fold_case`, values compare case-insensitively (the compiler lower-cases the column),
    because providers spell places as they like: "us-east-1", "EU-RO-1", "Texas, US".
    Without it, values are upper-cased to match codes the catalog stores so (DE, USD).
    """

    fold_case: bool = True
    wildcards: bool = True
    shape: re.Pattern | None = None
    shape_hint: str = ""
    operators: frozenset[str] = EQUALITY | MEMBERSHIP
    label: str = "text"

    def normalize(self, text: str) -> str:
        return text.lower() if self.fold_case else text.upper()

    def parse(self, raw: RawValue) -> str | Wildcard:
        text = self.normalize(raw.text.strip())
        _check_text_length(text, raw)
        if self.wildcards and "*" in text:
            return _wildcard(text, raw)
        if self.shape is not None and not self.shape.fullmatch(text):
            raise QueryError(
                f"{raw.text!r} is not a valid value here.",
                position=raw.position,
                hint=self.shape_hint,
            )
        return text

    def format(self, value: str | Wildcard) -> str:
        return quote_if_needed(value.pattern if isinstance(value, Wildcard) else value)


@dataclass(frozen=True)
class ChoiceType:
    """One of a fixed set. `spellings` maps every accepted spelling to its stored value."""

    spellings: Mapping[str, str]
    operators: frozenset[str] = EQUALITY | MEMBERSHIP
    label: str = "choice"
    canonical: tuple[str, ...] = field(init=False)

    def __post_init__(self):
        canonical = tuple(dict.fromkeys(self.spellings.values()))
        object.__setattr__(self, "canonical", canonical)

    def parse(self, raw: RawValue) -> str:
        key = re.sub(r"[\s-]+", "_", raw.text.strip().lower())
        if key in self.spellings:
            return self.spellings[key]
        choices = ", ".join(self.canonical)
        guess = closest(key, self.spellings)
        hint = f"Did you mean {self.spellings[guess]}? " if guess else ""
        raise QueryError(
            f"{raw.text!r} is not one of {choices}.",
            position=raw.position,
            hint=f"{hint}Valid: {choices}.",
        )

    def format(self, value: str) -> str:
        return quote_if_needed(value)


TRUE_WORDS = frozenset({"true", "yes", "1"})
FALSE_WORDS = frozenset({"false", "no", "0"})


@dataclass(frozen=True)
class BoolType:
    operators: frozenset[str] = EQUALITY
    label: str = "true or false"

    def parse(self, raw: RawValue) -> bool:
        word = raw.text.strip().lower()
        if word in TRUE_WORDS | FALSE_WORDS:
            return word in TRUE_WORDS
        raise QueryError(
            f"Expected true or false, got {raw.text!r}.",
            position=raw.position,
            hint="Use true or false.",
        )

    def format(self, value: bool) -> str:
        return "true" if value else "false"


DURATION_UNITS = (("d", 86400), ("h", 3600), ("m", 60))


@dataclass(frozen=True)
class DurationType:
    """An age such as 1h; the value is Decimal seconds."""

    operators: frozenset[str] = ORDERING
    label: str = "duration"

    def parse(self, raw: RawValue) -> Decimal:
        seconds = parse_quantity(raw.text, DURATION_SECONDS, raw.position)
        if not Decimal(0) <= seconds <= MAX_AGE_SECONDS:
            raise QueryError(
                f"{raw.text!r} is out of range.",
                position=raw.position,
                hint="Ages run from 0 to 10 years, e.g. observed<1h or observed>=2d.",
            )
        return seconds

    def format(self, seconds: Decimal) -> str:
        for suffix, size in DURATION_UNITS:
            if seconds and seconds % size == 0:
                return f"{format_decimal(seconds / size)}{suffix}"
        return f"{format_decimal(seconds)}s"


@dataclass(frozen=True)
class ComputeCapabilityType:
    """CUDA compute capability: 8.6, or Vast.ai's 860 (capability x 100)."""

    operators: frozenset[str] = ALL_OPERATORS
    label: str = "compute capability"

    def parse(self, raw: RawValue) -> tuple[int, int]:
        match = re.fullmatch(r"([0-9]{1,4})(?:\.([0-9]{1,2}))?", raw.text.strip())
        if not match:
            raise QueryError(
                f"Expected a compute capability such as 8.6, got {raw.text!r}.",
                position=raw.position,
                hint="Write major.minor (8.6) or Vast.ai's form (860).",
            )
        major, minor = int(match.group(1)), int(match.group(2) or 0)
        if match.group(2) is None and major >= 100:
            return major // 100, major % 100 // 10
        return major, minor

    def format(self, value: tuple[int, int]) -> str:
        return f"{value[0]}.{value[1]}"


@dataclass(frozen=True)
class GpuNameType:
    """A GPU name, resolved through the canonical list and its aliases; `_` means a space."""

    operators: frozenset[str] = EQUALITY | MEMBERSHIP
    label: str = "GPU name"

    def parse(self, raw: RawValue) -> str | Wildcard:
        text = raw.text if raw.quoted else raw.text.replace("_", " ")
        text = " ".join(text.split())
        _check_text_length(text, raw)
        if "*" in text:
            return _wildcard(text, raw)
        name = canonical_gpu_name(text)
        if name is None:
            raise QueryError(
                f"Unknown GPU {raw.text!r}.", position=raw.position, hint=_gpu_hint(text)
            )
        return name

    def format(self, value: str | Wildcard) -> str:
        text = value.pattern if isinstance(value, Wildcard) else value
        if "_" in text:
            # Only a quoted value keeps its underscores.
            return quote_if_needed(text, underscores_matter=True)
        return quote_if_needed(text.replace(" ", "_"))


def _gpu_hint(label: str) -> str:
    guess = suggest_gpu_name(label)
    known = "GET /api/v1/gpus/ lists GPUs and their aliases; wildcards work too: gpu=RTX_40*."
    return f"Did you mean {guess}? {known}" if guess else known


def _wildcard(text: str, raw: RawValue) -> Wildcard:
    if text.count("*") > MAX_WILDCARDS:
        raise QueryError(
            f"More than {MAX_WILDCARDS} wildcards in one value.",
            position=raw.position,
            hint="Patterns look like eu-* or *west*.",
        )
    return Wildcard(re.sub(r"\*+", "*", text))


def _check_text_length(text: str, raw: RawValue) -> None:
    if not text:
        raise QueryError(
            "Empty value.", position=raw.position, hint="Give a value, or any to drop the filter."
        )
    if len(text) > MAX_TEXT_LENGTH:
        raise QueryError(f"Value longer than {MAX_TEXT_LENGTH} characters.", position=raw.position)
