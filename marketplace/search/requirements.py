"""Requirements in the short form dstack and SkyPilot users know.

    H100:8                    eight H100s (a count alone means exactly that many)
    A100,H100:80GB..:4..8     A100 or H100 with 80 GB or more each, four to eight of them
    24GB..80GB:2..8           any GPU with 24 to 80 GB, two to eight of them
    amd:MI300X:8              vendor, name and count; parts may come in any order
    H100 cpu=32.. memory=256GB.. disk=1TB..    host requirements as keyword parts

Grammar and rules: docs/filter-language.md, "Requirements".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q

from .ast import Node, Term, conjunction
from .catalog import CatalogResolver
from .compiler import compile_query
from .errors import INVALID_GPU_SPEC, QueryError
from .fields import VENDORS
from .gpu_labels import canonical_gpu_name, suggest_gpu_name
from .units import COUNT, SIZE, Unit, parse_quantity, split_number
from .unparse import unparse

MAX_LENGTH = 500
MAX_NAMES = 20
MAX_GPU_COUNT = 4096
# Units are required inside a GPU spec, and only the spelled-out ones: "80" is a count there,
# and "3090Ti" must stay a GPU name rather than 3090 tebibytes.
SPEC_SIZE = Unit(
    name="a size with a unit",
    factors={key: SIZE.factors[key] for key in ("mb", "mib", "gb", "gib", "tb", "tib")},
    hint="Write GPU memory with its unit: 80GB, 24GB..80GB or 40GB.. .",
    bare_allowed=False,
)
KEYWORD_PART = re.compile(r"(gpu|cpus?|vcpus|memory|ram|disk)\s*[=:]\s*", re.IGNORECASE)
KEYWORDS = {"gpu": "gpu", "cpu": "cpu", "cpus": "cpu", "vcpus": "cpu", "memory": "memory"}
KEYWORDS |= {"ram": "memory", "disk": "disk"}
COUNT_PATTERN = re.compile(r"[0-9.]+")
WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")


@dataclass(frozen=True)
class Requirement:
    """What a buyer needs. Sizes are GB; None means unbounded.

    `count_min`/`count_max` are the GPUs wanted in total: one offer fits alone when its
    gpu_count lies between them; a split across offers is for the caller to plan.
    """

    gpu_names: tuple[str, ...] = ()
    gpu_vendor: str | None = None
    gpu_memory_min_gb: Decimal | None = None  # per GPU
    gpu_memory_max_gb: Decimal | None = None
    count_min: int | None = None
    count_max: int | None = None
    cpu_min: Decimal | None = None
    cpu_max: Decimal | None = None
    memory_min_gb: Decimal | None = None  # host RAM
    memory_max_gb: Decimal | None = None
    disk_min_gb: Decimal | None = None
    disk_max_gb: Decimal | None = None

    def to_tree(self, *, include_count: bool = True) -> Node:
        """The same requirement as a filter tree, so it compiles exactly like a filter."""
        terms: list[Node] = []
        if self.gpu_names:
            op, value = (
                ("eq", self.gpu_names[0]) if len(self.gpu_names) == 1 else ("in", self.gpu_names)
            )
            terms.append(Term("gpu", op, value))
        if self.gpu_vendor:
            terms.append(Term("gpu_vendor", "eq", self.gpu_vendor))
        terms += _range_terms("vram", self.gpu_memory_min_gb, self.gpu_memory_max_gb)
        if include_count:
            terms += _range_terms("gpus", self.count_min, self.count_max)
        terms += _range_terms("vcpus", self.cpu_min, self.cpu_max)
        terms += _range_terms("ram", self.memory_min_gb, self.memory_max_gb)
        terms += _range_terms("disk", self.disk_min_gb, self.disk_max_gb)
        return conjunction(terms)

    def to_q(self, resolver: CatalogResolver, *, include_count: bool = True) -> Q:
        """Offers that fit. Leave the count out to find offers a multi-offer plan may combine."""
        return compile_query(self.to_tree(include_count=include_count), resolver=resolver).q

    def to_filter(self, *, include_count: bool = True) -> str:
        return unparse(self.to_tree(include_count=include_count))


def _range_terms(field: str, low, high) -> list[Term]:
    if low is not None and low == high:
        return [Term(field, "eq", low)]
    bounds = (("gte", low), ("lte", high))
    return [Term(field, op, bound) for op, bound in bounds if bound is not None]


def parse_requirements(text: str) -> Requirement:
    """Parse `A100,H100:80GB..:4..8 cpu=32..`; raises QueryError (code invalid_gpu_spec)."""
    if len(text) > MAX_LENGTH:
        raise _error(f"Longer than {MAX_LENGTH} characters.", MAX_LENGTH)
    parts: dict[str, object] = {}
    for keyword, value, part_position, value_position in _split_parts(text):
        if keyword in parts:
            raise _error(f"{keyword} is given twice.", part_position)
        parts[keyword] = PART_PARSERS[keyword](value, value_position)
    if not parts:
        raise _error("Empty requirement.", 0, hint="E.g. H100:8 or A100,H100:80GB..:4..8.")
    return Requirement(**{key: v for part in parts.values() for key, v in part.items()})


def _split_parts(text: str):
    """Yield (keyword, value, position of the part, position of the value) for each part."""
    position = 0
    while position < len(text):
        if text[position].isspace():
            position += 1
            continue
        keyword = KEYWORD_PART.match(text, position)
        start = keyword.end() if keyword else position
        end = start
        while end < len(text) and not text[end].isspace():
            end += 1
        name = KEYWORDS[keyword.group(1).lower()] if keyword else "gpu"
        if start == end:
            raise _error(f"Expected a value after {text[position:start].strip()}.", start)
        yield name, text[start:end], position, start
        position = end


# --- the GPU spec -----------------------------------------------------------------------


def _parse_gpu_spec(spec: str, position: int) -> dict:
    found: dict[str, dict] = {}
    offset = 0
    for component in spec.split(":"):
        kind, values = _gpu_component(component, position + offset)
        if kind in found:
            raise _error(f"Two {kind} parts in one GPU spec.", position + offset)
        found[kind] = values
        offset += len(component) + 1
    result = {key: value for values in found.values() for key, value in values.items()}
    if "count" not in found:
        result |= {"count_min": 1, "count_max": 1}  # "H100" means one H100
    return result


def _gpu_component(component: str, position: int) -> tuple[str, dict]:
    if not component:
        raise _error(
            "Empty part in the GPU spec.",
            position,
            hint="Parts are separated by one colon; for any GPU write just the count: 8.",
        )
    if component.lower() in VENDORS.spellings:
        return "vendor", {"gpu_vendor": VENDORS.spellings[component.lower()]}
    if _is_size(component):
        low, high = _size_range(component, position, SPEC_SIZE)
        return "memory", {"gpu_memory_min_gb": low, "gpu_memory_max_gb": high}
    if _is_count(component):
        low, high = _count_range(component, position)
        return "count", {"count_min": low, "count_max": high}
    return "name", {"gpu_names": _gpu_names(component, position)}


def _is_size(component: str) -> bool:
    bounds = [bound for bound in component.split("..") if bound]
    return bool(bounds) and all(_has_size_unit(bound) for bound in bounds)


def _has_size_unit(bound: str) -> bool:
    try:
        _, suffix = split_number(bound, 0)
    except QueryError:
        return False
    return suffix.lower() in SPEC_SIZE.factors


def _is_count(component: str) -> bool:
    # Digits and dots only: 8, 4..8, 2.., and mistakes such as 1.5 or 1..2..3 that
    # _count_range then explains.
    return bool(COUNT_PATTERN.fullmatch(component)) and any(char.isdigit() for char in component)


def _count_range(component: str, position: int) -> tuple[int, int | None]:
    low, high = _bounds(component, position, _whole_number)
    for bound in (low, high):
        if bound is not None and not 1 <= bound <= MAX_GPU_COUNT:
            raise _error(f"GPU counts run from 1 to {MAX_GPU_COUNT}.", position)
    # "..4" still asks for at least one GPU.
    return int(low or 1), None if high is None else int(high)


def _whole_number(text: str, position: int) -> Decimal:
    if not WHOLE_NUMBER.fullmatch(text):
        raise _error(f"GPU counts are whole numbers, got {text!r}.", position)
    return Decimal(text)


def _gpu_names(component: str, position: int) -> tuple[str, ...]:
    names: list[str] = []
    offset = 0
    for label in component.split(","):
        names.append(_gpu_name(label, position + offset))
        offset += len(label) + 1
    if len(names) > MAX_NAMES:
        raise _error(f"More than {MAX_NAMES} GPU names.", position)
    return tuple(dict.fromkeys(names))


def _gpu_name(label: str, position: int) -> str:
    text = " ".join(label.replace("_", " ").split())
    name = canonical_gpu_name(text) if text else None
    if name is not None:
        return name
    guess = suggest_gpu_name(text) if text else None
    raise _error(
        f"Unknown GPU {label!r}." if text else "Empty GPU name.",
        position,
        hint=f"Did you mean {guess}?"
        if guess
        else "GET /api/v1/gpus/ lists GPUs and their aliases.",
    )


# --- ranges -----------------------------------------------------------------------------


def _bounds(text: str, position: int, read) -> tuple[Decimal | None, Decimal | None]:
    """`a..b`, `a..`, `..b` or `a` (which means exactly a)."""
    low_text, separator, high_text = text.partition("..")
    if separator and ".." in high_text:
        raise _error(f"Expected a range such as 4..8, got {text!r}.", position)
    low = read(low_text, position) if low_text else None
    if not separator:
        return low, low
    high = read(high_text, position + len(low_text) + 2) if high_text else None
    if low is None and high is None:
        raise _error("A range needs at least one bound: 2.., ..8 or 2..8.", position)
    if low is not None and high is not None and low > high:
        raise _error(
            f"The range {text} runs backwards.", position, hint="Write the smaller bound first."
        )
    return low, high


def _size_range(text: str, position: int, unit: Unit) -> tuple[Decimal | None, Decimal | None]:
    return _bounds(text, position, lambda bound, at: _quantity(bound, unit, at))


def _number_range(text: str, position: int) -> tuple[Decimal | None, Decimal | None]:
    return _bounds(text, position, lambda bound, at: _quantity(bound, COUNT, at))


def _quantity(text: str, unit: Unit, position: int) -> Decimal:
    try:
        quantity = parse_quantity(text, unit, position)
    except QueryError as error:
        raise _error(error.message, error.position, hint=error.hint) from None
    if quantity < 0:
        raise _error(f"{text} is negative.", position)
    return quantity


def _parse_cpu(value: str, position: int) -> dict:
    low, high = _number_range(value, position)
    return {"cpu_min": low, "cpu_max": high}


def _parse_memory(value: str, position: int) -> dict:
    low, high = _size_range(value, position, SIZE)
    return {"memory_min_gb": low, "memory_max_gb": high}


def _parse_disk(value: str, position: int) -> dict:
    low, high = _size_range(value, position, SIZE)
    return {"disk_min_gb": low, "disk_max_gb": high}


PART_PARSERS = {
    "gpu": _parse_gpu_spec,
    "cpu": _parse_cpu,
    "memory": _parse_memory,
    "disk": _parse_disk,
}


def _error(message: str, position: int, hint: str = "") -> QueryError:
    return QueryError(message, position=position, hint=hint, code=INVALID_GPU_SPEC)
