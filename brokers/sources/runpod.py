"""RunPod's GPU types as a pricing source (GraphQL `gpuTypes`).

`POST https://api.runpod.io/graphql` with `Authorization: Bearer <key>` (`RUNPOD_API_KEY`)
and the query below. Prices are per GPU-hour; RunPod sells a type in its Secure Cloud and
in its Community Cloud, each on-demand and spot ("interruptible"), so one GPU type gives
up to four offers, sku `<gpu id>:<cloud>` (`NVIDIA H100 80GB HBM3:secure`). Offers are
listed for 1 GPU and, where `maxGpuCount` allows more, for a full node of that many GPUs
(`...:secure:8x`, price x 8), so an 8-GPU job finds a single machine.

RunPod spot prices are the lowest bid that currently wins (`secureSpotPrice`, and
`lowestPrice.minimumBidPrice`): spot offers carry `extra["bid_floor"] = True`. RunPod does
not say where a pod will run: region is "".
"""

from __future__ import annotations

from collections.abc import Iterator

from django.conf import settings

from brokers.http import ProviderHttpClient
from brokers.sources._common import (
    JsonBody,
    JsonDocumentSource,
    json_api_body,
    parse_count,
    positive_price_or_none,
    source_failure,
)
from brokers.sources.base import OfferRow, PricingModel, RowError

GPU_TYPES_QUERY = """
query GpuTypes {
  gpuTypes {
    id displayName memoryInGb maxGpuCount secureCloud communityCloud
    securePrice communityPrice secureSpotPrice communitySpotPrice
    lowestPrice(input: {gpuCount: 1}) { minimumBidPrice uninterruptablePrice }
  }
}
"""
CLOUDS = ("secure", "community")
MIB_PER_GB = 1024


class RunpodSource(JsonDocumentSource):
    name = "runpod"
    provider_slug = "runpod"
    input_name = "gpuTypes"  # the one input: the API response, hashed
    document = "gpuTypes"
    complete = True
    freshness_limit_seconds = 3600

    def __init__(
        self, *, base_url: str | None = None, api_key: str | None = None, **client_options
    ):
        self.base_url = base_url
        self.api_key = api_key
        self.client_options = client_options

    def _rows(self, payload) -> Iterator[OfferRow | RowError]:
        gpu_types = _gpu_types(payload)
        if isinstance(gpu_types, str):
            yield source_failure(self.name, "gpuTypes", gpu_types)
            return
        for index, gpu_type in enumerate(gpu_types):
            try:
                yield from offers_of(gpu_type)
            # AttributeError: a list or a number where the API has an object
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                yield RowError(where=f"gpuTypes[{index}]", reason=f"unreadable GPU type: {exc!r}")

    def _api_body(self) -> JsonBody | RowError:
        api_key = self.api_key or settings.RUNPOD_API_KEY
        if not api_key:
            return source_failure(self.name, "RUNPOD_API_KEY", "no API key configured")
        base = self.base_url or settings.RUNPOD_API_URL
        client = ProviderHttpClient(base, api_key=api_key, **self.client_options)
        # a read-only query: safe to retry
        return json_api_body(client, "POST", "", json_body={"query": GPU_TYPES_QUERY})


def _gpu_types(payload) -> list | str:
    """The gpuTypes list, or the reason there is none (GraphQL reports errors with 200).
    Each level is checked for its type: a number in `errors` or a list in `data` is a
    broken response, to be reported, not iterated or asked for keys."""
    if not isinstance(payload, dict):
        return "response has no data.gpuTypes list"
    if errors := payload.get("errors"):
        listed = errors if isinstance(errors, list) else [errors]
        messages = "; ".join(str(e.get("message", e)) for e in listed if isinstance(e, dict))
        return f"GraphQL errors: {messages or errors}"
    data = payload.get("data")
    gpu_types = data.get("gpuTypes") if isinstance(data, dict) else None
    return gpu_types if isinstance(gpu_types, list) else "response has no data.gpuTypes list"


def offers_of(gpu_type: dict) -> Iterator[OfferRow]:
    gpu_id = gpu_type["id"]
    if not isinstance(gpu_id, str):  # it becomes the GPU label, which must be text
        raise TypeError(f"id {gpu_id!r} is not text")
    memory_gb = parse_count(gpu_type.get("memoryInGb"))
    max_gpus = parse_count(gpu_type.get("maxGpuCount")) or 1
    for cloud in CLOUDS:
        if not gpu_type.get(f"{cloud}Cloud"):
            continue
        prices = (
            (PricingModel.ON_DEMAND, positive_price_or_none(gpu_type.get(f"{cloud}Price"))),
            (PricingModel.SPOT, positive_price_or_none(gpu_type.get(f"{cloud}SpotPrice"))),
        )
        for pricing, per_gpu in prices:
            if per_gpu is None:
                continue
            for gpus in sorted({1, max_gpus}):
                yield OfferRow(
                    sku=f"{gpu_id}:{cloud}" if gpus == 1 else f"{gpu_id}:{cloud}:{gpus}x",
                    provider="runpod",
                    gpu_label=gpu_id,
                    gpu_count=gpus,
                    price_per_hour=per_gpu * gpus,
                    pricing=pricing,
                    gpu_memory_mib=memory_gb * MIB_PER_GB if memory_gb else None,
                    extra=_extra(gpu_type, cloud, pricing),
                )


def _extra(gpu_type: dict, cloud: str, pricing: str) -> dict:
    extra = {"display_name": str(gpu_type.get("displayName") or ""), "cloud": cloud}
    lowest = gpu_type.get("lowestPrice") or {}
    if pricing == PricingModel.SPOT:
        extra["bid_floor"] = True  # the lowest winning bid, not a guaranteed price
        if lowest.get("minimumBidPrice") is not None:
            extra["minimum_bid_price"] = str(lowest["minimumBidPrice"])
    elif lowest.get("uninterruptablePrice") is not None:
        extra["lowest_on_demand_price"] = str(lowest["uninterruptablePrice"])
    return extra
