"""Azure Retail Prices API (public, no key) as a pricing source.

`GET https://prices.azure.com/api/retail/prices?$filter=serviceName eq 'Virtual Machines'
and priceType eq 'Consumption'` returns pages of `{"Items": [...], "NextPageLink": ...}`.
Each item is one meter: `armSkuName` (Standard_NC24ads_A100_v4), `armRegionName`,
`retailPrice` per `unitOfMeasure` ("1 Hour"), `skuName` ("NC24ads A100 v4", "... Spot",
"... Low Priority"), `productName` ("Virtual Machines NCads A100 v4 Series" or "... Windows").

Decisions:
- Windows meters are dropped (the price includes a licence a Linux buyer does not pay).
- "Spot" meters are spot offers. "Low Priority" meters are dropped: low priority is Azure
  Batch's older evictable tier, not something a buyer can launch as a VM.
- Only GPU VMs are offers: the N-series table below (from gpu-facts.md's Azure regexes)
  gives the GPU and count. Sizes that hold a *fraction* of a GPU (NV6ads_A10_v5 = 1/6 A10)
  are left out on purpose: they do not compare with whole-GPU offers. An N-series size the
  table does not know is reported once as a RowError, so a new series is noticed.
- The same meter can appear more than once (price changes); the latest effectiveStartDate wins.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from django.conf import settings

from brokers.http import HttpError, ProviderHttpClient
from brokers.sources._common import files_fingerprint, parse_price, source_failure
from brokers.sources.base import OfferRow, PricingModel, PricingSource, RowError, SourceInput

DEFAULT_FILTER = "serviceName eq 'Virtual Machines' and priceType eq 'Consumption'"
MIB_PER_GB = 1024
INPUT = "retail prices"
PAGE_LENGTH_BYTES = 8  # each spooled page is preceded by its length


@dataclass(frozen=True)
class AzureGpuSeries:
    pattern: re.Pattern
    label: str
    memory_gb: int
    gpus_by_vcpus: dict[int, int]  # whole-GPU sizes: vCPUs in the size name -> GPUs
    fractional_vcpus: frozenset[int] = frozenset()  # sizes with part of a GPU


def _series(
    pattern: str, label: str, memory_gb: int, gpus: dict[int, int], fractional=()
) -> AzureGpuSeries:
    return AzureGpuSeries(re.compile(pattern, re.I), label, memory_gb, gpus, frozenset(fractional))


# armSkuName -> GPU. The number after the family letters is the size's vCPU count.
AZURE_GPU_SERIES = (
    _series(r"Standard_NC(\d+)ads_A100_v4", "A100", 80, {24: 1, 48: 2, 96: 4}),
    _series(r"Standard_ND(\d+)asr_v4", "A100", 40, {96: 8}),
    _series(r"Standard_ND(\d+)amsr_A100_v4", "A100", 80, {96: 8}),
    _series(r"Standard_NCC?(\d+)ads_H100_v5", "H100NVL", 94, {40: 1, 80: 2}),
    _series(r"Standard_ND(\d+)isr_H100_v5", "H100", 80, {96: 8}),
    _series(r"Standard_ND(\d+)isr_H200_v5", "H200", 141, {96: 8}),
    _series(r"Standard_ND(\d+)isr_MI300X_v5", "MI300X", 192, {96: 8}),
    _series(r"Standard_NC(\d+)as_T4_v3", "T4", 16, {4: 1, 8: 1, 16: 1, 64: 4}),
    _series(r"Standard_NC(\d+)r?s_v3", "V100", 16, {6: 1, 12: 2, 24: 4}),
    _series(r"Standard_ND(\d+)rs_v2", "V100", 32, {40: 8}),
    _series(r"Standard_NC(\d+)r?s_v2", "P100", 16, {6: 1, 12: 2, 24: 4}),
    _series(r"Standard_ND(\d+)r?s", "P40", 24, {6: 1, 12: 2, 24: 4}),
    _series(r"Standard_NC(\d+)r?", "K80", 12, {6: 1, 12: 2, 24: 4}),
    _series(r"Standard_NV(\d+)s_v3", "M60", 8, {12: 1, 24: 2, 48: 4}),
    _series(r"Standard_NV(\d+)ads_A10_v5", "A10", 24, {36: 1, 72: 2}, fractional=(6, 12, 18)),
    _series(r"Standard_NC(\d+)ads_A10_v4", "A10", 24, {32: 1}, fractional=(8, 16)),
    _series(r"Standard_NV(\d+)as_v4", "MI25", 16, {32: 1}, fractional=(4, 8, 16)),
    _series(r"Standard_NG(\d+)ads_V620_v1", "V620", 32, {32: 1}, fractional=(8, 16)),
)


class AzureRetailPricesSource(PricingSource):
    name = "azure"
    provider_slug = "azure"
    complete = True
    freshness_limit_seconds = 24 * 3600

    def __init__(self, *, base_url: str | None = None, **client_options):
        self.base_url = base_url
        self.client_options = client_options

    def inputs(
        self, *, path: str | None = None, previous: Mapping[str, str] | None = None
    ) -> Iterator[SourceInput]:
        """One input, as the latest price of a meter may be on any page: saved pages are
        hashed together, and so are the API's (`_api_input`)."""
        if path:
            files = _page_files(Path(path))
            yield SourceInput(
                name=INPUT,
                fingerprint=files_fingerprint(files) if files else "",
                read=lambda: self._rows(self._pages_from_files(Path(path))),
            )
        else:
            yield from self._api_input()

    def _api_input(self) -> Iterator[SourceInput]:
        """The API sends no validators, and its pages are only known by following them: all
        of them are fetched first, their bodies spooled to a temporary file and hashed
        together, so that unchanged prices are not decoded and written again (the sync
        skips an input whose fingerprint it has seen). A failed page leaves no fingerprint:
        the pages before it are read, then the failure."""
        base = self.base_url or settings.AZURE_PRICES_URL
        client = ProviderHttpClient(base, **self.client_options)
        params = {"$filter": settings.AZURE_PRICES_FILTER or DEFAULT_FILTER}
        with tempfile.TemporaryFile(prefix="gpu-market-azure-") as spool:
            digest, failure = hashlib.sha256(), None
            try:
                pages = client.paginate_bodies(
                    "", params, next_link=lambda page: page.get("NextPageLink")
                )
                for body, _page in pages:
                    digest.update(body)
                    spool.write(len(body).to_bytes(PAGE_LENGTH_BYTES, "big") + body)
            except HttpError as exc:
                failure = RowError(where=exc.url or client.url_for(""), reason=str(exc))
            fingerprint = "" if failure else f"sha256:{digest.hexdigest()}"
            yield SourceInput(
                name=INPUT,
                fingerprint=fingerprint,
                read=lambda: self._rows(_spooled_pages(spool, failure)),
            )

    def _rows(self, pages: Iterable[dict | RowError]) -> Iterator[OfferRow | RowError]:
        latest: dict[tuple[str, str, str], tuple[str, OfferRow]] = {}
        reported: set[str] = set()
        for page in pages:
            if isinstance(page, RowError):
                yield page
                continue
            items = page.get("Items") if isinstance(page, dict) else None
            if not isinstance(items, list):  # its meters are unknown: the run is incomplete
                yield source_failure(self.name, INPUT, "a page has no Items list")
                continue
            for index, item in enumerate(items):
                outcome = (
                    offer_from_item(item)
                    if isinstance(item, dict)
                    else RowError(where=f"Items[{index}]", reason=f"not an object: {item!r:.60}")
                )
                if isinstance(outcome, RowError):
                    if outcome.where not in reported:
                        reported.add(outcome.where)
                        yield outcome
                elif outcome is not None:
                    key = (outcome.sku, outcome.region, outcome.pricing)
                    started = str(item.get("effectiveStartDate") or "")
                    if key not in latest or started >= latest[key][0]:
                        latest[key] = (started, outcome)
        for _, offer in latest.values():
            yield offer

    def _pages_from_files(self, path: Path) -> Iterator[dict | RowError]:
        for file in _page_files(path):
            try:
                yield json.loads(file.read_text(encoding="utf-8"), parse_float=Decimal)
            except (OSError, ValueError, RecursionError) as exc:  # Recursion: nested too deep
                yield source_failure(self.name, str(file), f"cannot read price page: {exc}")


def _spooled_pages(spool, failure: RowError | None) -> Iterator[dict | RowError]:
    """The pages `_api_input` spooled (each after its length), decoded one at a time, then
    the failure that ended the paging, if any."""
    spool.seek(0)
    while header := spool.read(PAGE_LENGTH_BYTES):
        body = spool.read(int.from_bytes(header, "big"))
        yield json.loads(body, parse_float=Decimal)
    if failure is not None:
        yield failure


def _page_files(path: Path) -> list[Path]:
    return sorted(path.glob("*.json")) if path.is_dir() else [path]


def offer_from_item(item: dict) -> OfferRow | RowError | None:
    """An offer, None for a meter that is no offer here, or a RowError for a GPU size the
    table does not know (keyed by armSkuName so it is reported once)."""
    pricing = _pricing_of(item)
    sku = str(item.get("armSkuName") or "")
    if pricing is None or not sku or item.get("unitOfMeasure") != "1 Hour":
        return None
    gpu = gpu_of_sku(sku)
    if gpu is None:
        if sku.lower().startswith("standard_n"):
            return RowError(where=sku, reason="N-series size not in the Azure GPU table")
        return None  # a CPU-only VM
    if gpu == "fractional":
        return None
    label, count, memory_gb, vcpus = gpu
    try:
        price = parse_price(item.get("retailPrice"))
    except ValueError as exc:
        return RowError(where=f"{sku} {item.get('armRegionName')}", reason=str(exc))
    return OfferRow(
        sku=sku,
        provider="azure",
        gpu_label=label,
        gpu_count=count,
        price_per_hour=price,
        pricing=pricing,
        currency=str(item.get("currencyCode") or "USD"),
        gpu_memory_mib=memory_gb * MIB_PER_GB,
        vcpus=Decimal(vcpus),
        region=str(item.get("armRegionName") or ""),
        extra={k: str(item[k]) for k in ("skuName", "productName", "meterId") if item.get(k)},
    )


def _pricing_of(item: dict) -> str | None:
    sku_name = str(item.get("skuName") or "")
    if item.get("type") not in (None, "Consumption") or "Windows" in str(
        item.get("productName") or ""
    ):
        return None
    if "Low Priority" in sku_name:
        return None
    return PricingModel.SPOT if sku_name.endswith("Spot") else PricingModel.ON_DEMAND


def gpu_of_sku(arm_sku_name: str) -> tuple[str, int, int, int] | str | None:
    """(label, GPUs, memory GB per GPU, vCPUs), "fractional", or None if not a GPU size."""
    for series in AZURE_GPU_SERIES:
        match = series.pattern.fullmatch(arm_sku_name)
        if not match:
            continue
        digits = match.group(1)  # int() refuses 4300 digits or more; no size has 10
        vcpus = int(digits) if len(digits) < 10 else None
        if vcpus in series.fractional_vcpus:
            return "fractional"
        if vcpus in series.gpus_by_vcpus:
            return series.label, series.gpus_by_vcpus[vcpus], series.memory_gb, vcpus
        return None
    return None
