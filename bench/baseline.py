"""The baseline: the same searches and quotes as a plain Python linear scan over every offer,
held in memory as tuples. It evaluates the parsed filter tree directly (no database), with
the same meaning the compiler gives it, so its answers can be compared with the database's."""

from __future__ import annotations

import heapq
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

from marketplace.search import CatalogResolver, parse_requirements, parse_sort
from marketplace.search.ast import And, Anything, Node, Not, Or, Term, mentioned_fields
from marketplace.search.catalog import wildcard_match
from marketplace.search.compiler import NEGATIONS, _capability_ids, _split_patterns
from marketplace.search.fields import FIELDS, Age, Column, GpuAttribute, ProviderSlug, TotalVram
from marketplace.search.parser import parse_query
from marketplace.search.values import TextType, Wildcard

COLUMNS = (
    "id", "provider_id", "gpu_id", "gpu_count", "gpu_memory_gb", "vcpus", "memory_gb",
    "disk_gb", "region", "zone", "country", "continent", "pricing", "price_per_hour",
    "price_per_gpu_hour", "currency", "available", "reliability", "interconnect", "sku",
    "observed_at", "status", "suspect",
)  # fmt: skip
AT = {name: index for index, name in enumerate(COLUMNS)}
Row = tuple
Predicate = Callable[[Row], bool]
COMPARE = {
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "eq": lambda a, b: a == b,
    "in": lambda a, b: a in b,
}
AGE_TO_TIMESTAMP = {"lt": "gt", "lte": "gte", "gt": "lt", "gte": "lte"}


def load_rows(cursor) -> list[Row]:
    cursor.execute(f"SELECT {', '.join(COLUMNS)} FROM marketplace_offer")
    return cursor.fetchall()


def predicate(node: Node, *, resolver: CatalogResolver, now: datetime) -> Predicate:
    """A Python function that answers like the compiled filter. Comparisons with a missing
    value (NULL) are false, and so stay false under `not` only where SQL would agree."""
    match node:
        case Term():
            return _term(node, resolver, now)
        case Anything():
            return lambda row: True
        case And():
            parts = [predicate(child, resolver=resolver, now=now) for child in node.children]
            return lambda row: all(part(row) for part in parts)
        case Or():
            parts = [predicate(child, resolver=resolver, now=now) for child in node.children]
            return lambda row: any(part(row) for part in parts)
        case Not():
            inner = predicate(node.child, resolver=resolver, now=now)
            return lambda row: not inner(row)
    raise TypeError(node)


def _term(term: Term, resolver, now) -> Predicate:
    field = FIELDS[term.field]
    op = NEGATIONS.get(term.op, term.op)
    check = _positive(field, op, term.value, resolver, now)
    return (lambda row: not check(row)) if op != term.op else check


def _positive(field, op, value, resolver, now) -> Predicate:
    target = field.target
    values = value if op == "in" else (value,)
    if isinstance(target, GpuAttribute):
        ids = _gpu_ids(target.attribute, op, values, resolver)
        return lambda row: row[AT["gpu_id"]] in ids
    if isinstance(target, ProviderSlug):
        names, patterns = _split_patterns(values)
        ids = resolver.provider_ids(slugs=names, patterns=patterns)
        return lambda row: row[AT["provider_id"]] in ids
    if isinstance(target, Age):
        moment = now - timedelta(seconds=float(value))
        compare, at = COMPARE[AGE_TO_TIMESTAMP[op]], AT[target.column]
        return lambda row: compare(row[at], moment)
    if isinstance(target, TotalVram):
        compare = COMPARE[op]
        rhs = set(values) if op == "in" else value
        return lambda row: compare(row[AT["gpu_count"]] * row[AT["gpu_memory_gb"]], rhs)
    return _column(target, field, op, values)


def _column(target: Column, field, op, values) -> Predicate:
    at = AT[target.name]
    folded = isinstance(field.type, TextType) and field.type.fold_case
    exact = {v for v in values if not isinstance(v, Wildcard)}
    patterns = [v.pattern.split("*") for v in values if isinstance(v, Wildcard)]

    def text_matches(cell) -> bool:
        text = cell.lower() if folded else cell
        return text in exact or any(wildcard_match(parts, text) for parts in patterns)

    if op in ("eq", "in") and (folded or patterns):
        return lambda row: row[at] is not None and text_matches(row[at])
    if op == "in":
        return lambda row: row[at] in exact
    compare, rhs = COMPARE[op], values[0]
    return lambda row: row[at] is not None and compare(row[at], rhs)


def _gpu_ids(attribute, op, values, resolver) -> frozenset[int]:
    if attribute == "vendor":
        return resolver.gpu_ids(vendors=values)
    if attribute == "compute_cap":
        return _capability_ids(resolver, op, values)
    names, patterns = _split_patterns(values)
    return resolver.gpu_ids(names=names, patterns=patterns)


# --- searches and quotes --------------------------------------------------------------------


def search(rows, *, query: str, sort: str, limit: int, resolver, now) -> list[int]:
    """Ids of the first page, as GET /api/v1/offers/ would list them."""
    tree = parse_query(query)
    matches = predicate(tree, resolver=resolver, now=now)
    mentions_status = "status" in mentioned_fields(tree)
    status = AT["status"]
    listed = {"active", "stale"}
    key = _sort_key(sort)
    hits = (row for row in rows if (mentions_status or row[status] in listed) and matches(row))
    return [row[0] for row in heapq.nsmallest(limit, hits, key=key)]


def _sort_key(sort: str):
    getters = []
    for key in parse_sort(sort).keys:
        getter = _sort_value(key.field)
        sign = -1 if key.descending else 1
        getters.append((getter, sign))

    def sort_key(row):
        return (*(sign * getter(row) for getter, sign in getters), row[0])

    return sort_key


def _sort_value(field_name: str):
    if field_name == "total_vram":
        return lambda row: row[AT["gpu_count"]] * row[AT["gpu_memory_gb"]]
    if field_name == "reliability":
        return lambda row: row[AT["reliability"]] if row[AT["reliability"]] is not None else -1
    target = FIELDS[field_name].target
    if isinstance(target, Age):
        # Age ascending is the timestamp descending.
        return lambda row: -row[AT[target.column]].timestamp()
    at = AT[target.name]
    return lambda row: row[at]


def quote(rows, *, request, pricing, resolver, now, limit: int = 5) -> list[tuple[Decimal, int]]:
    """(total, offer id) of the best single-offer plans, by total cost, with the same
    exclusions and formulas as the quote engine (objective total_cost only)."""
    from marketplace.quoting.candidates import Candidate
    from marketplace.quoting.plans import Leg

    requirement = parse_requirements(request.gpu)
    fits = predicate(requirement.to_tree(include_count=True), resolver=resolver, now=now)
    wanted = predicate(parse_query(request.filter), resolver=resolver, now=now)
    reservable = set(pricing.rates)
    kinds = set(request.pricing)
    found = []
    for row in rows:
        if not (
            row[AT["status"]] == "active"
            and not row[AT["suspect"]]
            and row[AT["available"]] > 0
            and row[AT["provider_id"]] in reservable
            and row[AT["pricing"]] in kinds
            and row[AT["currency"]] == request.currency
            and fits(row)
            and wanted(row)
        ):
            continue
        candidate = Candidate(*(row[AT[name]] for name in Candidate._fields[:-1]), key=0)
        plan = pricing.price([Leg(candidate, 1)])
        if request.max_total is None or plan.total <= request.max_total:
            found.append((plan.total, plan.total_exact, row[0]))
    return [(total, offer_id) for total, _, offer_id in heapq.nsmallest(limit, found)]
