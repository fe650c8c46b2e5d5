"""Which GPU models a filter allows, so that a search can be run one GPU at a time.

PostgreSQL reads `gpu_id = 5 ORDER BY price` straight off an index on (gpu_id, price), but
for `gpu_id IN (4, 5) ORDER BY price` it must either sort every offer of both GPUs or walk
the whole price index hoping to meet them, and price correlates with the GPU, so that walk
can take a second on a million offers. Running the filter once per GPU (each run restricted
by `RestrictedResolver`) and merging the ordered runs keeps every run on the index.
"""

from __future__ import annotations

from collections.abc import Collection

from .ast import And, Anything, Node, Not, Or, Term
from .catalog import CatalogResolver
from .compiler import NEGATIONS, _capability_ids, _split_patterns

GPU_FIELDS = frozenset({"gpu", "gpu_vendor", "compute_cap"})
PROVIDER_FIELDS = frozenset({"provider"})


def implied_gpu_ids(node: Node, resolver: CatalogResolver) -> frozenset[int] | None:
    """The GPU ids every matching offer must have, or None when the filter leaves any GPU
    (or none) possible. A superset: filtering on `gpu_id in result` never loses a row."""
    return _implied(node, GPU_FIELDS, lambda term: _term_ids(term, resolver))


def implied_provider_ids(node: Node, resolver: CatalogResolver) -> frozenset[int] | None:
    """The provider ids every matching offer must have (`provider in [a,b]`), or None."""
    return _implied(node, PROVIDER_FIELDS, lambda term: _provider_term_ids(term, resolver))


def _implied(node: Node, fields: frozenset[str], term_ids) -> frozenset[int] | None:
    match node:
        case Term() if node.field in fields and node.op not in NEGATIONS:
            return term_ids(node)
        case And():
            found = [_implied(child, fields, term_ids) for child in node.children]
            known = [ids for ids in found if ids is not None]
            return frozenset.intersection(*known) if known else None
        case Or():
            found = [_implied(child, fields, term_ids) for child in node.children]
            if any(ids is None for ids in found):
                return None
            return frozenset().union(*found)
        case Term() | Anything() | Not():
            return None
    raise TypeError(f"not a filter node: {node!r}")


def _provider_term_ids(term: Term, resolver: CatalogResolver) -> frozenset[int]:
    slugs, patterns = _split_patterns(term.value if term.op == "in" else (term.value,))
    return resolver.provider_ids(slugs=slugs, patterns=patterns)


def _term_ids(term: Term, resolver: CatalogResolver) -> frozenset[int]:
    values = term.value if term.op == "in" else (term.value,)
    if term.field == "gpu_vendor":
        return resolver.gpu_ids(vendors=values)
    if term.field == "compute_cap":
        return _capability_ids(resolver, term.op, values)
    names, patterns = _split_patterns(values)
    return resolver.gpu_ids(names=names, patterns=patterns)


class RestrictedResolver:
    """A resolver that only ever answers with the GPU ids in `allowed`: compiling a filter
    through it gives the filter's conditions for those GPUs alone, with no second, redundant
    gpu_id condition to confuse the planner's estimates."""

    def __init__(self, base: CatalogResolver, allowed: Collection[int]):
        self.base = base
        self.allowed = frozenset(allowed)

    def gpu_ids(self, **criteria) -> frozenset[int]:
        return self.base.gpu_ids(**criteria) & self.allowed

    def provider_ids(self, **criteria) -> frozenset[int]:
        return self.base.provider_ids(**criteria)
