"""What a filter costs to run, checked before the resolver or the database sees it.

The parser already bounds a filter's size (2,000 characters, 100 terms, 20 levels, 100 values
in a list). Within those bounds the one shape that no index can serve is the wildcard
pattern on an offer column: `*west*`, `*-1` and `us-*-1a` become LIKE or a regex that
PostgreSQL evaluates on every candidate row, once per pattern, and OR'd patterns (`region
in [*a*, *b*, ...]`) leave no other condition to narrow the rows first. Over a million
offers one `lower(region) LIKE '%ab%'` took 1.1 s, four OR'd 3.0 s, eight OR'd regexes 11 s;
the 2,000 characters hold hundreds. So each pattern is charged, and a filter over
MAX_COST is refused (`query_too_costly`, at the term that crossed the limit).
"""

from __future__ import annotations

from .ast import Node, Term, walk
from .errors import QUERY_TOO_COSTLY, QueryError
from .fields import FIELDS, Column
from .values import Wildcard

MAX_COST = 16
# A prefix (eu-*): the region index serves it, and elsewhere LIKE 'eu-%' stops at the first
# character that differs.
PREFIX_COST = 1
# Any other pattern on an offer column: read in full on every row that reaches it.
UNANCHORED_COST = 4
# gpu=RTX_40*, provider=lambda*: matched in memory against the catalog's few hundred names
# (about a millisecond each), then an indexed id list.
CATALOG_PATTERN_COST = 1
COST_HINT = (
    f"A filter may cost {MAX_COST}: a pattern on an offer field that is not a prefix (*west*, "
    f"*-1, us-*-1a) costs {UNANCHORED_COST}, as no index serves it; a prefix (eu-*) and a GPU "
    f"or provider pattern cost {PREFIX_COST}. Use fewer patterns, or prefixes."
)


def check_cost(tree: Node) -> None:
    """Raise QueryError(query_too_costly) at the term where the filter's cost passes
    MAX_COST."""
    total = 0
    for term in walk(tree):
        if not isinstance(term, Term):
            continue
        total += term_cost(term)
        if total > MAX_COST:
            raise QueryError(
                f"This filter costs more than {MAX_COST} to run.",
                position=term.position,
                hint=COST_HINT,
                code=QUERY_TOO_COSTLY,
            )


def term_cost(term: Term) -> int:
    values = term.value if isinstance(term.value, tuple) else (term.value,)
    patterns = [value for value in values if isinstance(value, Wildcard)]
    if not isinstance(FIELDS[term.field].target, Column):
        return CATALOG_PATTERN_COST * len(patterns)
    return sum(pattern_cost(pattern) for pattern in patterns)


def pattern_cost(pattern: Wildcard) -> int:
    return PREFIX_COST if pattern.shape() == "startswith" else UNANCHORED_COST
