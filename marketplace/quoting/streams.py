"""Candidate offer streams: listed offers that match a request, in ascending order of one
column, a keyset page at a time, and the first pages of many streams read in one statement."""

from __future__ import annotations

import contextlib
import re
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import QuerySet

from common.api.pagination import keyset_after
from marketplace.models import Offer
from marketplace.quoting.candidates import CANDIDATE_FIELDS, Candidate


class OfferStream:
    """Quotable offers in ascending order of one column (price per hour or per GPU-hour), a
    page at a time, for one GPU model (`gpu_id`) or for any.

    Keyset paging on (column, id): each page is one indexed range read however far the
    caller goes, and the caller decides after each page whether anything further could still
    win. The first pages of many streams are read in one query (`read_first_pages`).
    """

    def __init__(
        self,
        queryset: QuerySet[Offer] | None,
        column: str,
        *,
        page_size: int,
        gpu_id: int | None = None,
        pricing: str | None = None,
        template: QuerySet[Offer] | None = None,
        providers: tuple[int, ...] = (),
    ):
        # `providers`: the few providers the filter allows (`provider in [a,b]`), read one
        # by one and merged: PostgreSQL before 17 cannot test an IN list on an index entry
        # while it walks an order, and would fetch every passed-over row to test it.
        self.providers = providers
        # `template`: the same offers for every GPU and pricing model, narrowed to this
        # stream's on demand (queryset None), so that many first pages can be read as one
        # statement without building a queryset per stream.
        self.template = template
        self._queryset = queryset
        self.column = column
        self.page_size = page_size
        self.gpu_id = gpu_id
        self.pricing = pricing
        self.exhausted = False
        self.last_key: Decimal | None = None
        self._last_id: int | None = None

    def next_page(self) -> list[Candidate]:
        return self.take(list(self.page_query()))

    @property
    def queryset(self) -> QuerySet[Offer]:
        if self._queryset is None:
            self._queryset = self.template.filter(gpu_id=self.gpu_id, pricing=self.pricing)
        return self._queryset

    def page_query(self) -> QuerySet:
        queryset, key = self.queryset, self.column
        if self._last_id is not None:
            queryset = queryset.filter(
                keyset_after([(key, False), ("id", False)], [self.last_key, self._last_id])
            )
        if len(self.providers) > 1:
            runs = [self._page_of(queryset.filter(provider_id=p)) for p in self.providers]
            return runs[0].union(*runs[1:], all=True).order_by(key, "id")[: self.page_size]
        return self._page_of(queryset)

    def _page_of(self, queryset: QuerySet[Offer]) -> QuerySet:
        rows = queryset.order_by(self.column, "id").values_list(*CANDIDATE_FIELDS, self.column)
        return rows[: self.page_size]

    def take(self, rows: list[tuple]) -> list[Candidate]:
        page = [Candidate(*row) for row in rows]
        self.exhausted = len(page) < self.page_size
        if page:
            self.last_key, self._last_id = page[-1].key, page[-1].id
        return page


@contextlib.contextmanager
def index_order_reads():
    """Stream pages read by walking an index, never by gathering a bitmap.

    A stream page is always "the next few offers in index order". PostgreSQL multiplies the
    selectivities of correlated conditions (a GPU, its price range, its GPU count, a
    region), thinks the matches rare, and gathers every one of them with a bitmap scan to
    sort them, thousands of rows to return a page (docs/quotes.md, Speed), where walking
    the (GPU, price) index reads just the page. Inside this block bitmap scans are priced out; an index scan of
    another index followed by a sort (the region index for `region=westeurope`) stays open
    to the planner. The setting ends with the block's transaction, or is put back at its
    end when the block runs inside a caller's transaction."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        try:
            yield
        finally:
            if not connection.needs_rollback:
                cursor.execute("SET LOCAL enable_bitmapscan TO DEFAULT")


def read_first_pages(streams: list[OfferStream]) -> list[Candidate]:
    """The next page of every stream, in one query (a UNION ALL of their page queries)."""
    if len(streams) <= 1:
        return streams[0].next_page() if streams else []
    split = [s for s in streams if len(s.providers) > 1]
    if split:  # already one statement each; read them one by one
        return [offer for stream in streams for offer in stream.next_page()]
    templated = [s for s in streams if s.template is not None and s.template is streams[0].template]
    others = [s for s in streams if s not in templated]
    if len(templated) > 1:
        rows = _union_from_template(templated)
    else:
        rows, others = [], streams
    if len(others) > 1:
        queries = [stream.page_query() for stream in others]
        rows += list(queries[0].union(*queries[1:], all=True))
    elif others:
        rows += list(others[0].page_query())
    return _deal(streams, rows)


def _deal(streams: list[OfferStream], rows: list[tuple]) -> list[Candidate]:
    """Give each stream its rows back: each reads one pricing model and one GPU model (or,
    when there is one stream per pricing model, any)."""
    by_gpu = any(stream.gpu_id is not None for stream in streams)
    rows_by_stream: dict[tuple, list[tuple]] = {(s.gpu_id, s.pricing): [] for s in streams}
    for row in rows:
        candidate = Candidate(*row)
        rows_by_stream[(candidate.gpu_id if by_gpu else None, candidate.pricing)].append(row)
    found = []
    for stream in streams:
        found += stream.take(sorted(rows_by_stream[(stream.gpu_id, stream.pricing)], key=_by_key))
    return found


# Stand-ins for a stream's GPU and pricing model in the statement compiled once for all.
_GPU_SENTINEL = -7_341_902_113
_PRICING_SENTINEL = "\x1fstream-pricing\x1f"


def _union_from_template(streams: list[OfferStream]) -> list[tuple]:
    """First pages of streams that differ only by GPU and pricing model, in one statement.

    The page query is compiled once, with stand-in values for the GPU and the pricing model,
    and run for every stream through a LATERAL join over the streams' (gpu, pricing) pairs:
    PostgreSQL plans one small query instead of a UNION ALL of a hundred (planning those
    took longer than reading them), and each stream is still one range of the (gpu_id,
    price) index. The statement is Django's own text; every value stays a bound parameter."""
    first = streams[0]
    template = OfferStream(
        first.template.filter(gpu_id=_GPU_SENTINEL, pricing=_PRICING_SENTINEL),
        first.column,
        page_size=first.page_size,
    )
    sql, params = template.page_query().query.sql_with_params()
    lateral = _with_stream_columns(sql, params)
    if lateral is None:  # pragma: no cover - a Django change
        queries = [stream.page_query() for stream in streams]
        return list(queries[0].union(*queries[1:], all=True))
    inner_sql, inner_params = lateral
    statement = (
        "SELECT page.* FROM unnest(%s::bigint[], %s::text[]) AS stream(gpu_id, pricing) "
        f"CROSS JOIN LATERAL ({inner_sql}) AS page"
    )
    gpu_ids = [stream.gpu_id for stream in streams]
    pricings = [stream.pricing for stream in streams]
    with connection.cursor() as cursor:
        cursor.execute(statement, [gpu_ids, pricings, *inner_params])
        return cursor.fetchall()


_PLACEHOLDER = re.compile(r"%%|%s")


def _with_stream_columns(sql: str, params) -> tuple[str, list] | None:
    """`sql` with the stand-in GPU and pricing parameters replaced by the LATERAL join's
    columns, and the parameters that remain; None if the stand-ins are not each found once."""
    stand_ins = {_GPU_SENTINEL: "stream.gpu_id", _PRICING_SENTINEL: "stream.pricing"}
    texts, tokens = _PLACEHOLDER.split(sql), _PLACEHOLDER.findall(sql)
    if tokens.count("%s") != len(params):
        return None
    values = iter(params)
    out, kept, found = [texts[0]], [], []
    for token, text in zip(tokens, texts[1:], strict=True):
        if token == "%s":
            value = next(values)
            if isinstance(value, int | str) and value in stand_ins:
                found.append(value)
                token = stand_ins[value]
            else:
                kept.append(value)
        out.append(token + text)
    if sorted(map(str, found)) != sorted(map(str, stand_ins)):
        return None
    return "".join(out), kept


def _by_key(row: tuple):
    return row[-1], row[0]  # (the stream's column, id): the order each stream reads in
