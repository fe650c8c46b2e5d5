"""Lambda Cloud's instance types as a pricing source.

`GET <LAMBDA_API_URL>/instance-types` with `Authorization: Bearer <key>`
(`LAMBDA_API_KEY`) returns `{"data": {"<type>": {"instance_type": {"name", "description",
"gpu_description", "price_cents_per_hour", "specs": {"vcpus", "memory_gib", "storage_gib",
"gpus"}}, "regions_with_capacity_available": [{"name", "description"}]}}}`.

One offer per region with capacity, `available=1` (Lambda says "has capacity", not how
much). A type with no capacity anywhere is still listed once, with region "" and
`available=0`: its price stays visible and its history continuous, and nothing can be
quoted or launched on it. Lambda does not say which regions a sold-out type normally runs
in, so no region is invented for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from django.conf import settings

from brokers.http import ProviderHttpClient
from brokers.sources._common import (
    JsonBody,
    JsonDocumentSource,
    json_api_body,
    parse_count,
    parse_decimal,
    parse_price,
    source_failure,
)
from brokers.sources.base import OfferRow, RowError
from marketplace.gpu_names import interconnect_from_label, memory_from_label

MIB_PER_GB = 1024


class LambdaCloudSource(JsonDocumentSource):
    name = "lambda"
    provider_slug = "lambda"
    input_name = "instance-types"  # the one input: the API response, hashed
    document = "instance types"
    complete = True
    freshness_limit_seconds = 3600  # capacity moves by the minute; prices rarely

    def __init__(
        self, *, base_url: str | None = None, api_key: str | None = None, **client_options
    ):
        self.base_url = base_url
        self.api_key = api_key
        self.client_options = client_options

    def _rows(self, payload) -> Iterator[OfferRow | RowError]:
        types = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(types, dict):
            yield source_failure(self.name, "instance-types", "response has no `data` object")
            return
        for type_name, entry in sorted(types.items()):
            try:
                yield from offers_of(type_name, entry)
            # AttributeError: a list or a number where the API has an object
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                yield RowError(
                    where=f"instance-types {type_name}", reason=f"unreadable instance type: {exc!r}"
                )

    def _api_body(self) -> JsonBody | RowError:
        api_key = self.api_key or settings.LAMBDA_API_KEY
        if not api_key:
            return source_failure(self.name, "LAMBDA_API_KEY", "no API key configured")
        base = self.base_url or settings.LAMBDA_API_URL
        client = ProviderHttpClient(base, api_key=api_key, **self.client_options)
        return json_api_body(client, "GET", "instance-types")


def offers_of(type_name: str, entry: dict) -> Iterator[OfferRow]:
    instance = entry["instance_type"]
    specs = instance.get("specs") or {}
    gpus = parse_count(specs.get("gpus"))
    label = _text(instance.get("gpu_description")).strip() if gpus else ""
    memory_gb = memory_from_label(label) if label else None
    cents = parse_decimal(instance["price_cents_per_hour"])  # ValueError, not InvalidOperation
    base = OfferRow(
        sku=_text(instance.get("name") or type_name),
        provider="lambda",
        gpu_label=label,
        gpu_count=gpus if label else 0,
        price_per_hour=parse_price(None if cents is None else cents / 100),
        gpu_memory_mib=memory_gb * MIB_PER_GB if memory_gb else None,
        vcpus=parse_decimal(specs.get("vcpus")),
        memory_gb=parse_decimal(specs.get("memory_gib")),
        disk_gb=parse_decimal(specs.get("storage_gib")),
        interconnect=interconnect_from_label(label),
        available=0,
        extra={"description": str(instance.get("description") or "")},
    )
    regions = entry.get("regions_with_capacity_available") or []
    if not regions:
        yield base
        return
    for region in regions:
        extra = {**base.extra, "region_description": str(region.get("description") or "")}
        yield replace(base, region=_text(region["name"]), available=1, extra=extra)


def _text(value) -> str:
    """A name or label: text, or "" for null. A number or a list there is a broken entry
    (TypeError, reported): passed on, it would fail the normaliser's text handling."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TypeError(f"{value!r} is not text")
    return value
