"""Turns a filter tree into a Django Q object: parameters only, never SQL text."""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import F, Q
from django.db.models.functions import Lower
from django.db.models.lookups import (
    Contains,
    EndsWith,
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    In,
    LessThan,
    LessThanOrEqual,
    Regex,
    StartsWith,
)

from .ast import And, Anything, Node, Not, Or, Term, mentioned_fields
from .catalog import CatalogResolver
from .cost import check_cost
from .fields import FIELDS, Age, Column, Field, GpuAttribute, ProviderSlug, TotalVram, lookup_field
from .parser import parse_query
from .unparse import unparse
from .values import TextType, Wildcard

TOTAL_VRAM = F("gpu_count") * F("gpu_memory_gb")
NEGATIONS = {"neq": "eq", "notin": "in"}
EXPRESSION_LOOKUPS = {
    "lt": LessThan,
    "lte": LessThanOrEqual,
    "gt": GreaterThan,
    "gte": GreaterThanOrEqual,
    "eq": Exact,
    "in": In,
}
PATTERN_LOOKUPS = {
    "startswith": StartsWith,
    "endswith": EndsWith,
    "contains": Contains,
    "regex": Regex,
}
# An age below a bound is a timestamp above now minus that bound.
AGE_TO_TIMESTAMP = {"lt": "gt", "lte": "gte", "gt": "lt", "gte": "lte"}


@dataclass(frozen=True)
class CompiledQuery:
    q: Q
    tree: Node
    fields: frozenset[str]

    def mentions(self, name: str) -> bool:
        """Whether the filter names `name` (aliases count): the caller applies the default
        status filter only when `mentions("status")` is false."""
        field = lookup_field(name)
        return field is not None and field.name in self.fields

    @property
    def normalized(self) -> str:
        return unparse(self.tree)


def compile_filter(
    text: str, *, resolver: CatalogResolver, now: datetime | None = None
) -> CompiledQuery:
    """Parse and compile filter text; raises QueryError on bad input (code invalid_query) or
    a filter that would cost too much to run (query_too_costly)."""
    return compile_query(parse_query(text), resolver=resolver, now=now)


def compile_query(
    tree: Node, *, resolver: CatalogResolver, now: datetime | None = None
) -> CompiledQuery:
    check_cost(tree)  # before the resolver or the database sees anything
    context = _Context(resolver, now)
    return CompiledQuery(q=context.node(tree), tree=tree, fields=mentioned_fields(tree))


class _Context:
    def __init__(self, resolver: CatalogResolver, now: datetime | None):
        self.resolver = resolver
        self._now = now

    @property
    def now(self) -> datetime:
        # Read once per compilation, so that two ages in one query share one "now".
        if self._now is None:
            self._now = datetime.now(UTC)
        return self._now

    def node(self, node: Node) -> Q:
        match node:
            case Term():
                return self.term(node)
            case Anything():
                return Q()
            case And():
                return self.conjunction(node)
            case Or():
                return self.disjunction(node)
            case Not():
                return negate(self.node(node.child))
        raise TypeError(f"not a filter node: {node!r}")

    def conjunction(self, node: And) -> Q:
        combined = Q()
        for child in node.children:
            combined &= self.node(child)
        return combined

    def disjunction(self, node: Or) -> Q:
        parts = [self.node(child) for child in node.children]
        # Q() | Q(x) is Q(x) in Django (an empty Q is dropped), but here Q() means "anything".
        if any(not part for part in parts):
            return Q()
        return functools.reduce(operator.or_, parts)

    def term(self, term: Term) -> Q:
        field = FIELDS[term.field]
        op = NEGATIONS.get(term.op, term.op)
        q = TARGET_COMPILERS[type(field.target)](self, field, op, term.value)
        return negate(q) if op != term.op else q


def match_nothing() -> Q:
    # Q() matches everything; an empty id list matches nothing (Django then skips the query).
    # A new object each time, because Q.add() mutates in place.
    return Q(pk__in=[])


def negate(q: Q) -> Q:
    # ~Q() is still "anything" to Django; the negation of anything is nothing.
    return match_nothing() if not q else ~q


# --- one compiler per target kind; `op` is lt, lte, gt, gte, eq or in ---------------------


def _column(context: _Context, field: Field, op: str, value) -> Q:
    column = field.target.name
    if isinstance(field.type, TextType) and field.type.fold_case:
        return _folded_text(column, op, value)
    if op == "in":
        return _membership(column, value)
    if isinstance(value, Wildcard):
        return _pattern_q(column, value)
    lookup = column if op == "eq" else f"{column}__{op}"
    return Q(**{lookup: value})


def _membership(column: str, values: tuple) -> Q:
    exact = [value for value in values if not isinstance(value, Wildcard)]
    parts = [Q(**{f"{column}__in": exact})] if exact else []
    parts += [_pattern_q(column, value) for value in values if isinstance(value, Wildcard)]
    return functools.reduce(operator.or_, parts)


def _folded_text(column: str, op: str, value) -> Q:
    """lower(column) against values the parser has already lower-cased."""
    lowered = Lower(F(column))
    values = value if op == "in" else (value,)
    exact = [item for item in values if not isinstance(item, Wildcard)]
    parts = [Q(In(lowered, exact) if op == "in" else Exact(lowered, exact[0]))] if exact else []
    parts += [_pattern_q(lowered, item) for item in values if isinstance(item, Wildcard)]
    return functools.reduce(operator.or_, parts)


def _pattern_q(lhs, pattern: Wildcard) -> Q:
    """eu-* -> startswith, *-1 -> endswith, *west* -> contains; anything else a regex.

    The first three become LIKE (Django escapes % and _ in the value), which an index with
    text_pattern_ops can serve.
    """
    shape = pattern.shape()
    argument = pattern.regex() if shape == "regex" else pattern.pattern.strip("*")
    if isinstance(lhs, str):
        return Q(**{f"{lhs}__{PATTERN_LOOKUPS[shape].lookup_name}": argument})
    return Q(PATTERN_LOOKUPS[shape](lhs, argument))


def _total_vram(context: _Context, field: Field, op: str, value) -> Q:
    rhs = list(value) if op == "in" else value
    return Q(EXPRESSION_LOOKUPS[op](TOTAL_VRAM, rhs))


def _age(context: _Context, field: Field, op: str, seconds) -> Q:
    moment = context.now - timedelta(seconds=float(seconds))
    return Q(**{f"{field.target.column}__{AGE_TO_TIMESTAMP[op]}": moment})


def _gpu_attribute(context: _Context, field: Field, op: str, value) -> Q:
    values = value if op == "in" else (value,)
    resolver = context.resolver
    attribute = field.target.attribute
    if attribute == "vendor":
        ids = resolver.gpu_ids(vendors=values)
    elif attribute == "compute_cap":
        ids = _capability_ids(resolver, op, values)
    else:
        names, patterns = _split_patterns(values)
        ids = resolver.gpu_ids(names=names, patterns=patterns)
    return Q(gpu_id__in=sorted(ids))


def _capability_ids(resolver: CatalogResolver, op: str, values) -> frozenset[int]:
    if op != "in":
        return resolver.gpu_ids(compute_cap=(op, values[0]))
    return frozenset().union(*(resolver.gpu_ids(compute_cap=("eq", value)) for value in values))


def _provider(context: _Context, field: Field, op: str, value) -> Q:
    slugs, patterns = _split_patterns(value if op == "in" else (value,))
    return Q(provider_id__in=sorted(context.resolver.provider_ids(slugs=slugs, patterns=patterns)))


def _split_patterns(values) -> tuple[tuple[str, ...], tuple[str, ...]]:
    exact = tuple(value for value in values if not isinstance(value, Wildcard))
    patterns = tuple(value.pattern for value in values if isinstance(value, Wildcard))
    return exact, patterns


TARGET_COMPILERS: dict[type, Callable[..., Q]] = {
    Column: _column,
    TotalVram: _total_vram,
    Age: _age,
    GpuAttribute: _gpu_attribute,
    ProviderSlug: _provider,
}
