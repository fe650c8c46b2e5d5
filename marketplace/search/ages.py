"""How a filter's answer changes as time passes, the catalog unchanged.

An age term (`observed<1h`) is measured from now: as time passes, an offer's price grows
older and the term's truth flips once, at `observed_at + 1h`, and never back. When every
age term can only flip from true to false where it counts (`observed<1h`, or `not
observed>1h`), time can only drop offers from what the filter matches, never add one: a
page of results then stays the answer until one of its own offers' terms flips, or the
catalog changes. An offer further down the list dropping out changes no earlier page.
"""

from __future__ import annotations

from decimal import Decimal

from .ast import And, Node, Not, Or, Term
from .fields import FIELDS, Age

_YOUNGER_THAN = frozenset({"lt", "lte"})  # observed<1h: true while the price is newer


def ages_that_only_drop(tree: Node) -> tuple[Decimal, ...] | None:
    """The filter's ages, in seconds (none for a filter with no age), when time passing can
    only drop offers from its matches; None when it can also add some (`observed>1h`, an
    offer's price growing old enough to match, or `not observed<1h`)."""
    ages: set[Decimal] = set()
    for term, negated in _terms(tree, negated=False):
        if not isinstance(FIELDS[term.field].target, Age):
            continue
        if (term.op in _YOUNGER_THAN) == negated:
            return None
        ages.add(Decimal(term.value))
    return tuple(sorted(ages))


def _terms(node: Node, *, negated: bool):
    """(term, whether an odd number of `not`s hold it), for each term of the filter."""
    match node:
        case Term():
            yield node, negated
        case And() | Or():
            for child in node.children:
                yield from _terms(child, negated=negated)
        case Not():
            yield from _terms(node.child, negated=not negated)
