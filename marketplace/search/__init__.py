"""The offer filter language, sort keys and the requirement short form.

    compiled = compile_filter("gpu=H100 gpus>=8 price<30", resolver=DatabaseResolver())
    offers = Offer.objects.filter(compiled.q)
    if not compiled.mentions("status"):
        offers = offers.filter(status__in=["active", "stale"])
    offers = parse_sort("price,-gpus").apply(offers)

Errors in user text raise QueryError (codes invalid_query, invalid_sort, invalid_gpu_spec,
query_too_costly) with a 0-based position; nothing else escapes for any input. See docs/filter-language.md.
"""

from .catalog import CatalogResolver, GpuRow, ProviderRow, SnapshotResolver
from .compiler import CompiledQuery, compile_filter, compile_query
from .cost import check_cost
from .errors import INVALID_GPU_SPEC, INVALID_QUERY, INVALID_SORT, QUERY_TOO_COSTLY, QueryError
from .parser import parse_query
from .requirements import Requirement, parse_requirements
from .resolver import DatabaseResolver, clear_catalog_cache
from .sorting import Sort, SortKey, parse_sort
from .unparse import unparse

__all__ = [
    "INVALID_GPU_SPEC",
    "INVALID_QUERY",
    "INVALID_SORT",
    "QUERY_TOO_COSTLY",
    "CatalogResolver",
    "CompiledQuery",
    "DatabaseResolver",
    "GpuRow",
    "ProviderRow",
    "QueryError",
    "Requirement",
    "SnapshotResolver",
    "Sort",
    "SortKey",
    "check_cost",
    "clear_catalog_cache",
    "compile_filter",
    "compile_query",
    "parse_query",
    "parse_requirements",
    "parse_sort",
    "unparse",
]
