"""The offers page's filter builder: a few fields (GPU, count, memory, place, pricing, price)
written as filter text, so that buyers see the language their choices make.

`build_query` is the one place that turns the fields into text. The page's script
(static/js/filter_builder.js) writes the same text in the browser as the fields change, and
the server calls `build_query` when the form is sent without the script; the browser test
holds the two to identical output. `builder_fields` reads a filter back into the fields,
through the real parser, keeping what the fields cannot say in `keep`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .ast import And, Node, Or, Term, conjunction
from .errors import QueryError
from .fields import CONTINENTS, FIELDS, PRICING
from .parser import parse_query
from .units import format_decimal
from .unparse import unparse
from .values import Wildcard, quote_if_needed

BUILDER_FIELDS = (
    "gpu",
    "gpus",
    "vram",
    "continent",
    "region",
    "pricing",
    "max_price",
    "price_per",
    "keep",
)
# The max price applies to the whole instance's hourly price or to one GPU-hour's.
PRICE_FIELDS = {"gpu_hour": "gpu_price", "hour": "price"}
DEFAULT_PRICE_PER = "gpu_hour"
CONTINENT_CODES = CONTINENTS.canonical
PRICING_MODELS = PRICING.canonical
# Plain decimals only, as a person types them: no sign, exponent or unit (the fields say the
# unit). Nine whole digits and six decimals keep every value exact in JavaScript too.
WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")
DECIMAL_NUMBER = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,6})?")
QUOTES = "\"'"

GPUS_MESSAGE = "Enter a whole number of GPUs, 1 or more."
VRAM_MESSAGE = "Enter the memory per GPU in GB, such as 80 or 40.5."
PRICE_MESSAGE = "Enter a price such as 2.5, with at most 6 decimals."
PRICE_PER_MESSAGE = "Choose per GPU-hour or per hour."
REGION_QUOTES_MESSAGE = "A region cannot hold both ' and \"."


class BuilderError(ValueError):
    """Fields the builder cannot write, each with the message to show at it."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(errors)
        self.errors = errors


class _FieldError(ValueError):
    pass


def build_query(fields: Mapping[str, str]) -> str:
    """The filter text the fields describe, e.g. `gpu=H100 gpus>=8 gpu_price<=3`, followed by
    `keep` as it is. Blank fields add nothing; BuilderError names each field it cannot use."""
    values = {name: str(fields.get(name) or "").strip() for name in BUILDER_FIELDS}
    terms, errors = [], {}
    for name, write in _TERM_WRITERS.items():
        if not values[name]:
            continue
        try:
            term = write(values)
            parse_query(term)  # the language's own checks: a GPU it knows, a region it reads
        except (_FieldError, QueryError) as exc:
            errors[name] = exc.message if isinstance(exc, QueryError) else str(exc)
        else:
            terms.append(term)
    if values["price_per"] not in ("", *PRICE_FIELDS):
        errors["price_per"] = PRICE_PER_MESSAGE
    if errors:
        raise BuilderError(errors)
    return " ".join([*terms, values["keep"]] if values["keep"] else terms)


def _gpu(values: dict[str, str]) -> str:
    return f"gpu={FIELDS['gpu'].type.format(values['gpu'])}"


def _gpus(values: dict[str, str]) -> str:
    text = values["gpus"]
    if not WHOLE_NUMBER.fullmatch(text) or int(text) < 1:
        raise _FieldError(GPUS_MESSAGE)
    return f"gpus>={int(text)}"


def _vram(values: dict[str, str]) -> str:
    return f"vram>={_decimal(values['vram'], VRAM_MESSAGE)}GB"


def _continent(values: dict[str, str]) -> str:
    return f"continent={values['continent']}"


def _region(values: dict[str, str]) -> str:
    text = values["region"]
    if all(quote in text for quote in QUOTES):
        raise _FieldError(REGION_QUOTES_MESSAGE)
    return f"region={quote_if_needed(text)}"


def _pricing(values: dict[str, str]) -> str:
    return f"pricing={values['pricing']}"


def _max_price(values: dict[str, str]) -> str:
    field = PRICE_FIELDS.get(values["price_per"] or DEFAULT_PRICE_PER, "gpu_price")
    return f"{field}<={_decimal(values['max_price'], PRICE_MESSAGE)}"


def _decimal(text: str, message: str) -> str:
    if not DECIMAL_NUMBER.fullmatch(text):
        raise _FieldError(message)
    whole, _, fraction = text.partition(".")
    fraction = fraction.rstrip("0")
    return f"{int(whole)}.{fraction}" if fraction else str(int(whole))


# In the order the terms are written.
_TERM_WRITERS = {
    "gpu": _gpu,
    "gpus": _gpus,
    "vram": _vram,
    "continent": _continent,
    "region": _region,
    "pricing": _pricing,
    "max_price": _max_price,
}


# --- reading a filter back into the fields ---------------------------------------------


def builder_fields(query: str) -> dict[str, str]:
    """The fields that write `query`, as far as they can: each top-level term the builder
    writes (gpu=H100, gpus>=8, ...) fills its field, the first of each kind; the rest is
    `keep`, in the parser's normal form, so that building again keeps its meaning. A query
    that does not parse is kept whole, as typed."""
    try:
        tree = parse_query(query)
    except QueryError:
        return {"keep": query.strip()}
    fields: dict[str, str] = {}
    rest: list[Node] = []
    for node in tree.children if isinstance(tree, And) else (tree,):
        filled = _fields_of(node)
        if filled is None or any(name in fields for name in filled):
            rest.append(node)
        else:
            fields.update(filled)
    return fields | {"keep": _kept_text(rest)} if rest else fields


def _fields_of(node: Node) -> dict[str, str] | None:
    """The builder's fields that write `node` exactly, or None."""
    if not isinstance(node, Term):
        return None
    match (node.field, node.op, node.value):
        case ("gpu", "eq", str(name)):
            return {"gpu": name}
        case ("gpus", "gte", int(count)) if count >= 1:
            return {"gpus": str(count)}
        case ("vram", "gte", size) if _plain(size):
            return {"vram": format_decimal(size)}
        case ("continent", "eq", str(code)):
            return {"continent": code}
        case ("region", "eq", str(text) | Wildcard(pattern=text)):
            return {"region": text}
        case ("pricing", "eq", str(model)):
            return {"pricing": model}
        case ("price" | "gpu_price", "lte", price) if _plain(price):
            per = next(per for per, field in PRICE_FIELDS.items() if field == node.field)
            return {"max_price": format_decimal(price), "price_per": per}
    return None


def _plain(number) -> bool:
    """Whether the number fits a builder field as typed (e.g. not 100MiB = 0.09765625 GB)."""
    return bool(DECIMAL_NUMBER.fullmatch(format_decimal(number)))


def _kept_text(nodes: list[Node]) -> str:
    kept = conjunction(nodes)
    # Written after the builder's terms, an `or` must keep its own brackets.
    return f"({unparse(kept)})" if isinstance(kept, Or) else unparse(kept)
