"""Offer search for the catalog API and the offers page: the filter language, sort keys and
keyset pagination over the result (see docs/filter-language.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from common.api.pagination import CursorPage, Keyset, page_from
from marketplace.models import Offer
from marketplace.search import (
    CatalogResolver,
    CompiledQuery,
    DatabaseResolver,
    Sort,
    compile_filter,
    compile_query,
    parse_sort,
)
from marketplace.search.partition import RestrictedResolver, implied_gpu_ids
from marketplace.selectors.offers import offers_default_listing, offers_visible

# Columns no listing shows (the API's OfferOutput, the offers page): not fetched, so that a
# page of offers does not decode every offer's JSON and timestamps for nothing: on a broad
# search that decoding is a large part of the time.
NOT_LISTED = ("extra", "created_at", "updated_at", "provider__config")

# Sorts that have an index on (gpu_id, column, id) besides (column, id): a filter that allows
# a few GPUs is then run one GPU at a time (see marketplace/search/partition.py).
GPU_SPLIT_COLUMNS = frozenset({"price_per_gpu_hour", "price_per_hour"})
MAX_GPU_SPLIT = 4


@dataclass(frozen=True)
class OfferSearch:
    base: QuerySet[Offer]  # the listing the filter applies to (status rule, related rows)
    compiled: CompiledQuery
    sort: Sort
    resolver: CatalogResolver
    now: datetime  # the moment ages (observed<1h) are measured from, the same in every run

    @property
    def queryset(self) -> QuerySet[Offer]:
        return self.sort.apply(self.base.filter(self.compiled.q))

    @property
    def order(self) -> list[tuple[str, bool]]:
        """[(column or annotation, descending), ...]; always ends with the id."""
        return self.sort.order

    @property
    def keyset(self) -> Keyset:
        # The sort's signature leads the cursor, so that a cursor from another sort order
        # is refused instead of silently skipping rows.
        return Keyset(tuple(self.order), signature=self._signature())

    def page(
        self, *, limit: int, cursor: str | None = None, columns: Sequence[str] = ()
    ) -> CursorPage:
        """One page and the cursor of the next (None on the last page): a single query.
        Its rows are offers, or with `columns` (ORM lookups: `provider__slug`) dicts of
        those columns and the sort's: for a renderer that needs no model instances
        (`FlatOutput.render_values`), which cost more to build than the query takes."""
        keyset = self.keyset
        condition = keyset.after(cursor, self.queryset) if cursor else Q()
        gpu_ids = self._gpus_to_split()
        if gpu_ids:
            rows = self._merged_by_gpu(gpu_ids, condition, limit + 1)
        else:
            rows = self.queryset.filter(condition)[: limit + 1]
        if columns:
            rows = rows.values(*dict.fromkeys([*columns, *(name for name, _ in self.order)]))
        return page_from(list(rows), limit=limit, cursor_for=keyset.cursor_for)

    def _gpus_to_split(self) -> list[int] | None:
        if self.order[0][0] not in GPU_SPLIT_COLUMNS:
            return None
        gpu_ids = implied_gpu_ids(self.compiled.tree, self.resolver)
        if gpu_ids is None or not 1 < len(gpu_ids) <= MAX_GPU_SPLIT:
            return None
        return sorted(gpu_ids)

    def _merged_by_gpu(self, gpu_ids: list[int], condition: Q, size: int) -> QuerySet[Offer]:
        """The first `size` rows, as the first `size` of each GPU's own ordered run: one
        query, each run on the (gpu_id, sort column) index."""
        runs = []
        for gpu_id in gpu_ids:
            restricted = RestrictedResolver(self.resolver, {gpu_id})
            q = compile_query(self.compiled.tree, resolver=restricted, now=self.now).q
            run = self.sort.apply(self.base.filter(q, condition, gpu_id=gpu_id))
            runs.append(run.values("id")[:size])
        merged = runs[0].union(*runs[1:], all=True)
        listing = offers_visible().defer(*NOT_LISTED)
        return self.sort.apply(listing.filter(id__in=merged))[:size]

    def _signature(self) -> str:
        return ",".join(("-" if descending else "") + name for name, descending in self.order)


def offer_search(*, query: str, sort: str, resolver: CatalogResolver | None = None) -> OfferSearch:
    """Offers matching the filter `query`, ordered by `sort` (default: price per GPU-hour).

    Active and stale offers are listed (suspect ones included, flagged); withdrawn ones only
    when the filter names `status`. Bad text raises QueryError (invalid_query or
    invalid_sort) with the position of the mistake and a hint.
    """
    resolver, now = resolver or DatabaseResolver(), timezone.now()
    compiled = compile_filter(query or "", resolver=resolver, now=now)
    parsed_sort = parse_sort(sort)
    base = offers_visible() if compiled.mentions("status") else offers_default_listing()
    return OfferSearch(base.defer(*NOT_LISTED), compiled, parsed_sort, resolver, now)
