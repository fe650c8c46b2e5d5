"""The price index pages: /prices/ (chart and table) and /prices/index.csv, open to anyone
like the offers page. Both read `marketplace.selectors.price_index` with the parameters of
the form (`gpu`, `pricing`, `continent`, `days`), as GET /api/v1/prices/index/ does."""

from __future__ import annotations

import csv
import io

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from common.errors import DomainError
from common.page_limits import rate_limited
from marketplace.locations import CONTINENT_NAMES
from marketplace.models import PricingModel
from marketplace.price_chart import price_chart
from marketplace.selectors.price_index import (
    DEFAULT_GPU,
    DEFAULT_WINDOW,
    WINDOWS,
    PriceIndex,
    price_index,
    price_index_gpu_names,
    price_index_query,
)

CSV_COLUMNS = ("day", "p10", "median", "p90", "offers", "providers", "currency")


def _index_from(params) -> PriceIndex:
    query = price_index_query(
        gpu=params.get("gpu"),
        pricing=params.get("pricing"),
        continent=params.get("continent"),
        days=params.get("days"),
    )
    return price_index(query=query)


@rate_limited(GET=("search",))
@require_GET
def prices(request):
    error, index = None, None
    try:
        index = _index_from(request.GET)
    except DomainError as exc:
        error = exc.message
    chosen = {
        "gpu": request.GET.get("gpu") or DEFAULT_GPU,
        "pricing": request.GET.get("pricing", ""),
        "continent": request.GET.get("continent", ""),
        "days": request.GET.get("days") or str(DEFAULT_WINDOW),
    }
    context = {
        "index": index,
        "heading": _heading(index) if index else "",
        "chart": price_chart(index.rows) if index else None,
        "newest_first": list(reversed(index.rows)) if index else [],
        "error": error,
        "chosen": chosen,
        "csv_query": request.GET.urlencode(),
        "gpus": price_index_gpu_names(),
        "pricing_models": PricingModel.choices,
        "continents": sorted(CONTINENT_NAMES.items(), key=lambda item: item[1]),
        "windows": [str(days) for days in WINDOWS],
    }
    return render(request, "marketplace/prices.html", context, status=400 if error else 200)


def _heading(index: PriceIndex) -> str:
    """ "H100, On demand, Europe": what the chart and table are of."""
    query = index.query
    pricing = dict(PricingModel.choices).get(query.pricing, "")
    return ", ".join(filter(None, [query.gpu, pricing, CONTINENT_NAMES.get(query.continent)]))


@rate_limited(GET=("search",))
@require_GET
def prices_csv(request):
    try:
        index = _index_from(request.GET)
    except DomainError as exc:
        return HttpResponse(exc.message, status=400, content_type="text/plain; charset=utf-8")
    response = HttpResponse(price_index_csv(index), content_type="text/csv; charset=utf-8")
    query = index.query
    name = "-".join(filter(None, ["price-index", query.gpu, query.pricing, query.continent]))
    response["Content-Disposition"] = f'attachment; filename="{name}-{query.days}d.csv"'
    return response


def price_index_csv(index: PriceIndex) -> str:
    """One row per day, oldest first; a day without offers has empty prices."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in index.rows:
        prices = ["" if p is None else format(p, "f") for p in (row.p10, row.median, row.p90)]
        writer.writerow([row.day.isoformat(), *prices, row.offers, row.providers, index.currency])
    return out.getvalue()
