"""Vast.ai's offer search as a pricing source.

`GET https://console.vast.ai/api/v0/bundles/?q=<json>` returns `{"offers": [...]}`, one
entry per machine offer: `id`, `machine_id`, `gpu_name`, `num_gpus`, `gpu_ram` (MiB per
GPU), `cpu_cores_effective`, `cpu_ram` (MiB), `disk_space` (GB), `dph_total` ($/h for the
whole offer), `min_bid`, `reliability2` (0..1), `geolocation` (free text "Texas, US"),
`inet_down`, `inet_up`, `verified`, `rentable`, `storage_cost`, `gpu_frac`...

Each offer gives an on-demand row at `dph_total` (sku = offer id) and, when `min_bid` is
set, a spot ("interruptible") row at `min_bid`. `min_bid` is the floor a bid must beat, not
a price anyone is guaranteed: spot rows carry `extra["bid_floor"] = True` so the pipeline
can keep them out of automatic picks or treat them as suspect.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal

from django.conf import settings

from brokers.http import ProviderHttpClient
from brokers.sources._common import (
    JsonBody,
    JsonDocumentSource,
    json_api_body,
    parse_count,
    parse_decimal,
    parse_price,
    positive_price_or_none,
    source_failure,
)
from brokers.sources.base import OfferRow, PricingModel, RowError

# Vast's own default search: rentable, unrented, verified machines on demand.
DEFAULT_QUERY = {
    "verified": {"eq": True},
    "external": {"eq": False},
    "rentable": {"eq": True},
    "rented": {"eq": False},
    "type": "on-demand",
    "order": [["score", "desc"]],
    "limit": 5000,
}
EXTRA_FIELDS = (
    "machine_id",
    "host_id",
    "verified",
    "inet_down",
    "inet_up",
    "storage_cost",
    "gpu_frac",
    "min_bid",
)
MIB_PER_GIB = Decimal(1024)


class VastSource(JsonDocumentSource):
    name = "vast"
    provider_slug = "vast"
    input_name = "bundles"  # the one input: the API response, hashed
    document = "offers"
    complete = True
    freshness_limit_seconds = 1800  # marketplace offers come and go within the hour

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        query: dict | None = None,
        **client_options,
    ):
        self.base_url = base_url
        self.api_key = api_key
        self.query = query
        self.client_options = client_options

    def _rows(self, payload) -> Iterator[OfferRow | RowError]:
        offers = payload.get("offers") if isinstance(payload, dict) else None
        if not isinstance(offers, list):
            yield source_failure(self.name, "bundles", "response has no `offers` list")
            return
        for index, offer in enumerate(offers):
            try:
                yield from rows_of(offer)
            # AttributeError: a list or a number where the API has an object
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                where = (
                    f"offer {offer.get('id')}"
                    if isinstance(offer, dict) and offer.get("id")
                    else f"offers[{index}]"
                )
                yield RowError(where=where, reason=f"unreadable offer: {exc}")

    def _api_body(self) -> JsonBody | RowError:
        base = self.base_url or settings.VAST_API_URL
        api_key = self.api_key or settings.VAST_API_KEY or None  # the search works without one
        client = ProviderHttpClient(base, api_key=api_key, **self.client_options)
        query = self.query or settings.VAST_QUERY or DEFAULT_QUERY
        params = {
            "q": query if isinstance(query, str) else json.dumps(query, separators=(",", ":"))
        }
        return json_api_body(client, "GET", "bundles/", params=params)


def rows_of(offer: dict) -> Iterator[OfferRow]:
    gpus = parse_count(offer.get("num_gpus"))
    label = str(offer.get("gpu_name") or "").strip() if gpus else ""
    cpu_ram_mib = parse_decimal(offer.get("cpu_ram"))
    on_demand = OfferRow(
        sku=str(offer["id"]),
        provider="vast",
        gpu_label=label,
        gpu_count=gpus if label else 0,
        price_per_hour=_price(offer, "dph_total"),
        pricing=PricingModel.ON_DEMAND,
        gpu_memory_mib=_mib(offer.get("gpu_ram")) if label else None,
        vcpus=parse_decimal(offer.get("cpu_cores_effective")),
        memory_gb=(cpu_ram_mib / MIB_PER_GIB).quantize(Decimal("0.01")) if cpu_ram_mib else None,
        disk_gb=parse_decimal(offer.get("disk_space")),
        region=str(offer.get("geolocation") or "").strip(),
        available=1 if offer.get("rentable", True) and not offer.get("rented") else 0,
        reliability=_reliability(offer.get("reliability2")),
        extra={k: _json_safe(offer[k]) for k in EXTRA_FIELDS if offer.get(k) is not None},
    )
    yield on_demand
    if (min_bid := positive_price_or_none(offer.get("min_bid"))) is not None:
        extra = {**on_demand.extra, "bid_floor": True}
        yield replace(on_demand, pricing=PricingModel.SPOT, price_per_hour=min_bid, extra=extra)


def _price(offer: dict, field: str) -> Decimal:
    try:
        return parse_price(offer.get(field))
    except ValueError:
        raise ValueError(f"non-numeric {field} {offer.get(field)!r}") from None


def _mib(value) -> int | None:
    number = parse_decimal(value)
    return round(number) if number else None


def _reliability(value) -> Decimal | None:
    number = parse_decimal(value)
    if number is None:
        return None
    return min(max(number, Decimal(0)), Decimal(1)).quantize(Decimal("0.0001"))


def _json_safe(value):
    """extra is stored as jsonb: Decimals (from parse_float) become strings, and so do NaN
    and Infinity (floats here, and refused by jsonb), inside lists and objects too."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | dict | float):
        return json.loads(json.dumps(value, default=str), parse_constant=str)
    return value
