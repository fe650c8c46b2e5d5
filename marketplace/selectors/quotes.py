"""Reads for quotes: quotable offers in rank order, a page at a time, and the counts of the
offers that were left out and why."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Collection
from decimal import Decimal
from typing import NamedTuple

from django.db import connection, transaction
from django.db.models import (
    Count,
    DecimalField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Value,
)
from django.db.models.expressions import Combinable
from django.db.models.functions import Cast, Round
from django.db.models.lookups import GreaterThan

from common.api.pagination import keyset_after
from marketplace.models import GpuModel, Offer, OfferStatus, Provider
from marketplace.services.quote_costs import HOURS_PER_MONTH, ProviderRates, Usage

LISTED = (OfferStatus.ACTIVE, OfferStatus.STALE)
# Quotable: fresh (not stale), not flagged as an outlier price, with capacity to reserve.
QUOTABLE = Q(status=OfferStatus.ACTIVE, suspect=False, available__gt=0)
CANDIDATE_FIELDS = (
    "id",
    "provider_id",
    "gpu_id",
    "gpu_count",
    "price_per_hour",
    "price_per_gpu_hour",
    "available",
    "region",
    "sku",
    "pricing",
    "currency",
    "status",
    "suspect",
)
_MONEY = DecimalField(max_digits=30, decimal_places=12)


class Candidate(NamedTuple):
    id: int
    provider_id: int
    gpu_id: int | None
    gpu_count: int
    price_per_hour: Decimal
    price_per_gpu_hour: Decimal
    available: int
    region: str
    sku: str
    pricing: str
    currency: str
    status: str
    suspect: bool
    key: Decimal  # the stream's rank key


class GpuFacts(NamedTuple):
    name: str
    relative_throughput: Decimal | None
    memory_gb: Decimal = Decimal(0)  # per GPU; every offer of the model records the same


def reservable_provider_rates() -> dict[int, ProviderRates]:
    """Providers whose offers can be reserved here: active, with a launcher."""
    rows = Provider.objects.filter(is_active=True).exclude(launcher="")
    return {
        p.pk: ProviderRates(
            provider_id=p.pk,
            slug=p.slug,
            disk_price_per_gb_month=p.disk_price_per_gb_month,
            egress_price_per_gb=p.egress_price_per_gb,
            boot_seconds=p.boot_seconds,
        )
        for p in rows.only(
            "id", "slug", "disk_price_per_gb_month", "egress_price_per_gb", "boot_seconds"
        )
    }


def gpu_facts() -> dict[int, GpuFacts]:
    return {
        gpu.pk: GpuFacts(gpu.name, gpu.relative_throughput, Decimal(gpu.memory_gb or 0))
        for gpu in GpuModel.objects.only("id", "name", "memory_gb", "bf16_tflops")
    }


def quotable_offers(*, match: Q, provider_ids: Collection[int]) -> QuerySet[Offer]:
    return Offer.objects.filter(match, QUOTABLE, provider_id__in=sorted(provider_ids))


def listed_offers(*, match: Q) -> QuerySet[Offer]:
    """Active and stale offers that match, suspect ones aside: what the quote engine reads,
    telling the quotable ones from those it leaves out (and counts) as it goes. Suspect
    prices sit at the very bottom of every price order, so reading them would cost a page
    per stream: they are counted apart (`count_suspect`)."""
    return Offer.objects.filter(match, status__in=LISTED, suspect=False)


def count_suspect(*, match: Q, within: Q | None, cap: int) -> int:
    """Listed offers that match but whose price is flagged as an outlier, up to `cap`."""
    rows = Offer.objects.filter(match, status__in=LISTED, suspect=True)
    if within is not None:
        rows = rows.filter(within)
    return rows.values("id")[:cap].count()


def exclusion_reason(offer: Candidate, provider_ids: Collection[int]) -> str | None:
    """Why a listed offer cannot be quoted (the first reason that applies), or None."""
    if offer.status != OfferStatus.ACTIVE:
        return "stale"
    if offer.suspect:
        return "suspect"
    if offer.available <= 0:
        return "unavailable"
    if offer.provider_id not in provider_ids:
        return "not_reservable"
    return None


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
    sort them: 3,000 rows fetched and sorted to return 16 (60 ms, where walking the (GPU,
    price) index takes 1). Inside this block bitmap scans are priced out; an index scan of
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


def single_offer_total(usage: Usage) -> Combinable:
    """The all-in total of one instance, in SQL, to count offers above max_total."""
    billed_hours = ExpressionWrapper(
        Value(usage.hours, output_field=_MONEY)
        # Cast: an integer over an integer-looking literal would divide as integers.
        + Cast("provider__boot_seconds", _MONEY) / Value(Decimal(3600), output_field=_MONEY),
        output_field=_MONEY,
    )
    disk_share = usage.disk_gb * usage.hours / HOURS_PER_MONTH
    return ExpressionWrapper(
        F("price_per_hour") * billed_hours
        + F("provider__disk_price_per_gb_month") * Value(disk_share, output_field=_MONEY)
        + F("provider__egress_price_per_gb") * Value(usage.egress_gb, output_field=_MONEY),
        output_field=_MONEY,
    )


def quote_exclusions(
    *,
    match: Q,
    provider_ids: Collection[int],
    workless_gpu_ids: Collection[int] | None = None,
    within: Q | None = None,
) -> dict[str, int]:
    """How many listed offers that match were left out, by the first reason that applies:
    stale, suspect, unavailable (no capacity), not_reservable (listed for comparison only),
    no_throughput (cost_per_work without a throughput figure). `within` narrows the count
    to the offers that could have competed with the quotes. One aggregate query."""
    fresh = Q(status=OfferStatus.ACTIVE)
    clean = fresh & Q(suspect=False)
    stocked = clean & Q(available__gt=0)
    reservable = Q(provider_id__in=sorted(provider_ids))
    counts = {
        "stale": Count("id", filter=Q(status=OfferStatus.STALE)),
        "suspect": Count("id", filter=fresh & Q(suspect=True)),
        "unavailable": Count("id", filter=clean & Q(available=0)),
        "not_reservable": Count("id", filter=stocked & ~reservable),
    }
    if workless_gpu_ids is not None:
        workless = Q(gpu_id__isnull=True) | Q(gpu_id__in=sorted(workless_gpu_ids))
        counts["no_throughput"] = Count("id", filter=stocked & reservable & workless)
    rows = Offer.objects.filter(match, status__in=LISTED)
    if within is not None:
        rows = rows.filter(within)
    # Aliased: an aggregate may not share a name with a field (suspect, ...).
    totals = rows.aggregate(**{f"n_{name}": count for name, count in counts.items()})
    return {name: totals[f"n_{name}"] or 0 for name in counts}


def count_over_total(
    *, quotable: QuerySet[Offer], usage: Usage, max_total: Decimal, cap: int
) -> int:
    """Quotable offers whose one-instance all-in total is above max_total, counted up to
    `cap` (the count stops there, so a broad request stays cheap)."""
    total = Round(single_offer_total(usage), 2, output_field=_MONEY)
    above = quotable.filter(GreaterThan(total, Value(max_total, output_field=_MONEY)))
    return above.values("id")[:cap].count()
