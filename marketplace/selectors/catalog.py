"""Offer search for the catalog API and the offers page: the filter language, sort keys and
keyset pagination over the result (see docs/filter-language.md)."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from config.api_base import decode_cursor, encode_cursor, keyset_after
from config.api_errors import ApiError
from marketplace.models import Offer
from marketplace.search import (
    CatalogResolver,
    DatabaseResolver,
    QueryError,
    Sort,
    compile_filter,
    parse_sort,
)
from marketplace.selectors.offers import offers_default_listing, offers_visible


def query_error_to_api(error: QueryError) -> ApiError:
    """The 400 body of a bad filter, sort or GPU spec: code, message, position and hint."""
    return ApiError(
        error.code, error.message, status_code=400, position=error.position, hint=error.hint
    )


@dataclass(frozen=True)
class OfferSearch:
    queryset: QuerySet[Offer]
    sort: Sort

    @property
    def order(self) -> list[tuple[str, bool]]:
        """[(column or annotation, descending), ...]; always ends with ("id", False)."""
        return self.sort.order

    def cursor_for(self, offer: Offer) -> str:
        # The sort's signature leads the cursor, so that a cursor from another sort order
        # is refused instead of silently skipping rows.
        return encode_cursor([self._signature(), *(getattr(offer, f) for f, _ in self.order)])

    def after(self, cursor: str) -> QuerySet[Offer]:
        """The rows strictly after the cursor's row, in this search's order."""
        signature, *values = decode_cursor(cursor, len(self.order) + 1)
        if signature != self._signature():
            raise ApiError("invalid_cursor", "The cursor does not belong to this sort order.")
        try:
            return self.queryset.filter(keyset_after(self.order, values))
        except (ValueError, TypeError, ValidationError):
            raise ApiError("invalid_cursor", "The cursor is malformed.") from None

    def page(self, *, limit: int, cursor: str | None = None) -> tuple[list[Offer], str | None]:
        """One page and the cursor of the next (None on the last page): a single query."""
        queryset = self.after(cursor) if cursor else self.queryset
        rows = list(queryset[: limit + 1])
        if len(rows) <= limit:
            return rows, None
        rows = rows[:limit]
        return rows, self.cursor_for(rows[-1])

    def _signature(self) -> str:
        return ",".join(("-" if descending else "") + name for name, descending in self.order)


def offer_search(*, query: str, sort: str, resolver: CatalogResolver | None = None) -> OfferSearch:
    """Offers matching the filter `query`, ordered by `sort` (default: price per GPU-hour).

    Active and stale offers are listed (suspect ones included, flagged); withdrawn ones only
    when the filter names `status`. Bad text raises ApiError 400 (invalid_query or
    invalid_sort) with the position of the mistake and a hint.
    """
    try:
        compiled = compile_filter(query or "", resolver=resolver or DatabaseResolver())
        parsed_sort = parse_sort(sort)
    except QueryError as error:
        raise query_error_to_api(error) from None
    base = offers_visible() if compiled.mentions("status") else offers_default_listing()
    return OfferSearch(queryset=parsed_sort.apply(base.filter(compiled.q)), sort=parsed_sort)


def offer_to_dict(offer: Offer) -> dict:
    return {
        "id": offer.pk,
        "provider": offer.provider.slug,
        "sku": offer.sku,
        "gpu": offer.gpu.name if offer.gpu else None,
        "gpu_vendor": offer.gpu.vendor if offer.gpu else None,
        "gpu_count": offer.gpu_count,
        "gpu_memory_gb": str(offer.gpu_memory_gb),
        "vcpus": str(offer.vcpus),
        "memory_gb": str(offer.memory_gb),
        "disk_gb": str(offer.disk_gb),
        "region": offer.region,
        "zone": offer.zone,
        "country": offer.country,
        "continent": offer.continent,
        "pricing": offer.pricing,
        "price_per_hour": str(offer.price_per_hour),
        "price_per_gpu_hour": str(offer.price_per_gpu_hour),
        "currency": offer.currency,
        "available": offer.available,
        "reliability": None if offer.reliability is None else str(offer.reliability),
        "interconnect": offer.interconnect,
        "observed_at": offer.observed_at.isoformat().replace("+00:00", "Z"),
        "status": offer.status,
        "suspect": offer.suspect,
        "suspect_reason": offer.suspect_reason,
    }
