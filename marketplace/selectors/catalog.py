"""Offer search for the catalog API and the offers page: the filter language, sort keys and
keyset pagination over the result (see docs/filter-language.md)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.core.exceptions import EmptyResultSet
from django.db import connection
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
from marketplace.search.ages import ages_that_only_drop
from marketplace.search.fields import FIELDS, Age
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

# First pages compiled to SQL, kept per process: building and compiling the queryset costs
# the API about a third of a search's CPU (`make bench ARGS=request-cpu`), and most searches
# repeat. Bounded, least recently used first out.
PAGE_SQL_CACHE_SIZE = 256

# A page of a search with no age in it is its answer until the catalog changes.
UNTIL_THE_CATALOG_CHANGES = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class SearchPage(CursorPage):
    # Until when this page is the search's answer, the catalog unchanged; None: it may not
    # be by the next moment (the filter matches more offers as their prices grow old).
    unchanged_until: datetime | None


@dataclass(frozen=True)
class OfferSearch:
    compiled: CompiledQuery
    sort: Sort
    resolver: CatalogResolver
    now: datetime  # the moment ages (observed<1h) are measured from, the same in every run

    @property
    def base(self) -> QuerySet[Offer]:
        """The listing the filter applies to (status rule, related rows); built when asked:
        a first page whose SQL this process keeps needs no queryset at all."""
        listing = offers_visible() if self.compiled.mentions("status") else offers_default_listing()
        return listing.defer(*NOT_LISTED)

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
    ) -> SearchPage:
        """One page and the cursor of the next (None on the last page): a single query.
        Its rows are offers, or with `columns` (ORM lookups: `provider__slug`) dicts of
        those columns and the sort's: for a renderer that needs no model instances
        (`FlatOutput.render_values`), which cost more to build than the query takes."""
        keyset = self.keyset
        if columns and not cursor and self._compiles_the_same_later():
            names = self._values_names(columns)
            rows = _PAGE_SQL.rows(self, limit + 1, names, lambda: self._rows(limit + 1, Q(), names))
        else:
            condition = keyset.after(cursor, self.queryset) if cursor else Q()
            rows = self._rows(limit + 1, condition, self._values_names(columns) if columns else ())
        rows = list(rows)
        page = page_from(rows, limit=limit, cursor_for=keyset.cursor_for)
        return SearchPage(page.rows, page.next, self._unchanged_until(rows))

    def _unchanged_until(self, fetched: list) -> datetime | None:
        """The first moment one of the fetched rows (the page and the one after it, which
        says whether there is a next page) may stop matching as time passes; an offer
        further down dropping out changes neither (marketplace/search/ages.py)."""
        ages = ages_that_only_drop(self.compiled.tree)
        if ages is None:
            return None
        flips = (
            flip
            for row in fetched
            for age in ages
            # a term that flipped before now flips no more
            if (flip := _turns_old(row, age)) >= self.now
        )
        return min(flips, default=UNTIL_THE_CATALOG_CHANGES)

    def _rows(self, size: int, condition: Q, names: Sequence[str]) -> QuerySet:
        gpu_ids = self._gpus_to_split()
        if gpu_ids:
            rows = self._merged_by_gpu(gpu_ids, condition, size)
        else:
            rows = self.queryset.filter(condition)[:size]
        return rows.values(*names) if names else rows

    def _values_names(self, columns: Sequence[str]) -> list[str]:
        # observed_at: when the rows stop matching an age (_unchanged_until)
        return list(dict.fromkeys([*columns, *(name for name, _ in self.order), "observed_at"]))

    def _compiles_the_same_later(self) -> bool:
        """Whether this search's SQL depends only on its text and the resolver's catalog:
        an age (`observed<1h`) is measured from now, so its SQL changes every moment."""
        return not any(isinstance(FIELDS[name].target, Age) for name in self.compiled.fields)

    @property
    def resolved_against(self) -> object | None:
        """The catalog snapshot the filter's names were resolved against (None when it
        named no GPU nor provider); known once the filter is compiled."""
        return _catalog_of(self.resolver)

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
    return OfferSearch(compiled, parsed_sort, resolver, now)


def _turns_old(row, age: Decimal) -> datetime:
    """When the row's price turns `age` seconds old (never, if past the last moment a
    datetime holds)."""
    observed_at = row["observed_at"] if isinstance(row, dict) else row.observed_at
    try:
        return observed_at + timedelta(seconds=float(age))
    except OverflowError:
        return UNTIL_THE_CATALOG_CHANGES


def _catalog_of(resolver: CatalogResolver) -> object:
    """What a search's SQL was resolved against: the catalog snapshot a DatabaseResolver
    used (None if the filter named no GPU nor provider: then the SQL depends on no
    snapshot), else the resolver itself."""
    return resolver.snapshot_used if isinstance(resolver, DatabaseResolver) else resolver


@dataclass(frozen=True)
class _CompiledPage:
    catalog: object  # held, so that its identity (in the key) is never reused
    sql: str | None  # None: the filter matches nothing (Django sends no query then)
    params: tuple
    names: tuple[str, ...]  # the values() row's keys, in the SELECT's order


class _PageSqlCache:
    """First pages of `.values()` searches as SQL text and parameters, keyed by the filter's
    tree (the text as parsed: spacing and spelling aside), the sort, the page size, the
    columns and the catalog snapshot the names were resolved against, if any (a GPU or
    provider renamed, added or removed is a new snapshot: marketplace/search/resolver.py).
    The catalog is the same for everyone: nothing in the SQL depends on
    who asks. Shared by a process's threads."""

    def __init__(self, size: int):
        self.size = size
        self._entries: OrderedDict[tuple, _CompiledPage] = OrderedDict()
        self._lock = threading.Lock()

    def rows(
        self, search: OfferSearch, size: int, names: Sequence[str], values: Callable[[], QuerySet]
    ) -> list[dict]:
        """The first `size` rows of `search` as dicts of `names`; `values()` builds the
        query, when this process has not compiled it yet."""
        # After the filter's compilation: the snapshot it used, if any, is known.
        catalog = _catalog_of(search.resolver)
        key = (
            search.compiled.tree,  # frozen dataclasses: equal trees compile the same
            tuple(search.order),
            size,
            tuple(names),
            id(catalog),
        )
        try:
            hash(key)
        except TypeError:  # a value in the tree that cannot be a key: compile it each time
            return _run(_compile(catalog, values()))
        with self._lock:
            page = self._entries.get(key)
            if page is not None and page.catalog is catalog:
                self._entries.move_to_end(key)
            else:
                page = None
        if page is None:
            page = _compile(catalog, values())
            with self._lock:
                self._entries[key] = page
                self._entries.move_to_end(key)
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
        return _run(page)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def _compile(catalog: object, values: QuerySet) -> _CompiledPage:
    query = values.query
    names = (*query.extra_select, *query.values_select, *query.annotation_select)
    try:
        sql, params = query.get_compiler(values.db).as_sql()
    except EmptyResultSet:
        return _CompiledPage(catalog, None, (), names)
    return _CompiledPage(catalog, sql, tuple(params), names)


def _run(page: _CompiledPage) -> list[dict]:
    if page.sql is None:
        return []
    with connection.cursor() as cursor:
        cursor.execute(page.sql, page.params)
        return [dict(zip(page.names, row, strict=True)) for row in cursor.fetchall()]


_PAGE_SQL = _PageSqlCache(PAGE_SQL_CACHE_SIZE)
