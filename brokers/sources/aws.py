"""AWS EC2 prices as a pricing source: the bulk price list and spot price history.

- The price list offer file (`.../offers/v1.0/aws/AmazonEC2/current/<region>/index.csv`):
  a few preamble lines (`"FormatVersion","v1.0"`, `"Disclaimer",...`, `"Publication Date"`,
  `"Version"`, `"OfferCode"`), then a header starting with `"SKU"`, then one row per price
  dimension. An offer is a row with TermType OnDemand, Operating System Linux, Tenancy
  Shared, Pre Installed S/W NA and CapacityStatus Used (not the reservation or
  dedicated-host variants of the same instance).
- Spot price history in the `DescribeSpotPriceHistory` response shape
  (`{"SpotPriceHistory": [{"AvailabilityZone", "InstanceType", "ProductDescription",
  "SpotPrice", "Timestamp"}], "NextToken"}`): the latest Linux price per instance type and
  zone. The API itself needs signed requests; this source reads saved responses (files or
  URLs from `AWS_SPOT_PRICE_URLS`).

The price list does not name GPU models, so the GPU comes from the instance family.
A local path is a file (`.csv` price list, `.json` spot history) or a folder of them; price
lists are read first so spot rows get the instance's vCPUs and memory.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

from django.conf import settings

from brokers.http import HttpError, ProviderHttpClient
from brokers.sources._common import (
    files_fingerprint,
    parse_count,
    parse_decimal,
    parse_price,
    source_failure,
)
from brokers.sources.base import OfferRow, PricingModel, PricingSource, RowError, SourceInput

REQUIRED_COLUMNS = (
    "TermType", "PricePerUnit", "Unit", "Instance Type", "Operating System", "Tenancy",
    "Pre Installed S/W", "CapacityStatus", "Region Code",
)  # fmt: skip
OFFER_FILTER = {
    "TermType": "OnDemand",
    "Operating System": "Linux",
    "Tenancy": "Shared",
    "Pre Installed S/W": "NA",
    "CapacityStatus": "Used",
}
LINUX_SPOT_PRODUCTS = frozenset({"Linux/UNIX", "Linux/UNIX (Amazon VPC)"})
MAX_PREAMBLE_LINES = 20
MIB_PER_GB = 1024
INPUT = "price list and spot history"


@dataclass(frozen=True)
class GpuFamily:
    label: str
    memory_gb: int  # per GPU
    gpus: int  # in most sizes of the family
    gpus_by_size: dict[str, int]  # the sizes that differ


def _family(label: str, memory_gb: int, gpus: int = 1, **by_size: int) -> GpuFamily:
    return GpuFamily(
        label, memory_gb, gpus, {size.replace("_", ""): n for size, n in by_size.items()}
    )


# Instance family -> GPU, from AWS's accelerated-computing instance pages.
INSTANCE_FAMILY_GPUS = {
    "p2": _family("K80", 12, 1, _8xlarge=8, _16xlarge=16),
    "p3": _family("V100", 16, 1, _8xlarge=4, _16xlarge=8),
    "p3dn": _family("V100", 32, 8),
    "p4d": _family("A100", 40, 8),
    "p4de": _family("A100", 80, 8),
    "p5": _family("H100", 80, 8, _4xlarge=1),
    "p5e": _family("H200", 141, 8),
    "p5en": _family("H200", 141, 8),
    "p6-b200": _family("B200", 180, 8),
    "g3": _family("M60", 8, 1, _8xlarge=2, _16xlarge=4),
    "g3s": _family("M60", 8, 1),
    "g4dn": _family("T4", 16, 1, _12xlarge=4, metal=8),
    "g4ad": _family("V520", 8, 1, _8xlarge=2, _16xlarge=4),
    "g5": _family("A10G", 24, 1, _12xlarge=4, _24xlarge=4, _48xlarge=8),
    "g5g": _family("T4g", 16, 1, _16xlarge=2, metal=2),
    "g6": _family("L4", 24, 1, _12xlarge=4, _24xlarge=4, _48xlarge=8),
    "gr6": _family("L4", 24, 1),
    "g6e": _family("L40S", 48, 1, _12xlarge=4, _24xlarge=4, _48xlarge=8),
    "dl1": _family("Gaudi", 32, 8),
}


@dataclass(frozen=True)
class InstanceSpecs:
    vcpus: Decimal | None
    memory_gb: Decimal | None
    disk_gb: Decimal | None
    gpus: int


class AwsPricingSource(PricingSource):
    name = "aws"
    provider_slug = "aws"
    complete = True
    freshness_limit_seconds = 24 * 3600

    def __init__(self, *, price_list_urls=None, spot_price_urls=None, **client_options):
        self.price_list_urls = price_list_urls
        self.spot_price_urls = spot_price_urls
        self.client_options = client_options

    def inputs(
        self, *, path: str | None = None, previous: Mapping[str, str] | None = None
    ) -> Iterator[SourceInput]:
        """One input, as spot rows take their specs from the price list: local files are
        hashed together; the published files are always read (the spot history comes from a
        signed API, and the price list is one of several files read as one)."""
        files = _local_files(Path(path)) if path else []
        fingerprint = files_fingerprint(files) if files else ""
        yield SourceInput(name=INPUT, fingerprint=fingerprint, read=lambda: self._rows(path))

    def _rows(self, path: str | None) -> Iterator[OfferRow | RowError]:
        specs: dict[str, InstanceSpecs] = {}  # filled by the price list, used by spot rows
        if path:
            yield from self._fetch_local(Path(path), specs)
        else:
            yield from self._fetch_remote(specs)

    def _fetch_local(self, path: Path, specs: dict) -> Iterator[OfferRow | RowError]:
        files = _local_files(path)
        if not files:
            yield source_failure(self.name, str(path), "no such file or folder")
            return
        for file in files:
            if file.suffix.lower() == ".json":
                yield from self._read_spot_file(file, specs)
            else:
                with file.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
                    yield from read_price_list(handle, file.name, specs, source_name=self.name)

    def _fetch_remote(self, specs: dict) -> Iterator[OfferRow | RowError]:
        client = ProviderHttpClient(**self.client_options)
        for url in _url_list(self.price_list_urls or settings.AWS_PRICE_LIST_URLS):
            try:
                with (
                    client.downloaded(url, suffix=".csv") as file,
                    file.open(newline="", encoding="utf-8-sig", errors="replace") as handle,
                ):
                    yield from read_price_list(handle, _shown(url), specs, source_name=self.name)
            except HttpError as exc:
                yield RowError(where=exc.url or url, reason=str(exc))
        for url in _url_list(self.spot_price_urls or settings.AWS_SPOT_PRICE_URLS):
            try:
                payload = client.get_json(url)
            except HttpError as exc:
                yield RowError(where=exc.url or url, reason=str(exc))
                continue
            yield from spot_offers(payload, _shown(url), specs)

    def _read_spot_file(self, file: Path, specs: dict) -> Iterator[OfferRow | RowError]:
        try:
            payload = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as exc:  # Recursion: nested past the limit
            yield source_failure(self.name, file.name, f"cannot read spot price history: {exc}")
            return
        yield from spot_offers(payload, file.name, specs)


def _local_files(path: Path) -> list[Path]:
    """Price lists first, so that spot rows find their instance's specs."""
    if path.is_dir():
        return sorted(path.glob("*.csv")) + sorted(path.glob("*.json"))
    return [path] if path.is_file() else []


def _shown(url: str) -> str:
    """A URL's path, to name rows in errors: a `where` starting with "http" would tell the
    sync pipeline that the whole source failed, which one bad row does not mean."""
    return urlsplit(url).path.lstrip("/") or url


def _url_list(value) -> list[str]:
    items = value.split(",") if isinstance(value, str) else value
    return [u.strip() for u in items if u and u.strip()]


# -- the price list ---------------------------------------------------------------------------


def read_price_list(
    handle: IO[str], name: str, specs: dict[str, InstanceSpecs], *, source_name: str
) -> Iterator[OfferRow | RowError]:
    reader = csv.reader(handle)
    header = _find_header(reader)
    if header is None:
        yield source_failure(source_name, name, "no header row starting with SKU")
        return
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        yield source_failure(source_name, name, f"missing columns: {', '.join(missing)}")
        return
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield RowError(where=f"{name}:{reader.line_num}", reason=f"malformed CSV line: {exc}")
            continue
        if len(cells) != len(header):
            yield RowError(
                where=f"{name}:{reader.line_num}",
                reason=f"expected {len(header)} fields, got {len(cells)}",
            )
            continue
        row = dict(zip(header, cells, strict=True))
        if not _is_offer(row):
            continue
        try:
            yield _on_demand_offer(row, specs)
        except ValueError as exc:
            yield RowError(where=f"{name}:{reader.line_num}", reason=str(exc))


def _find_header(reader) -> list[str] | None:
    for _ in range(MAX_PREAMBLE_LINES):
        try:
            cells = next(reader)
        except (StopIteration, csv.Error):
            return None
        if cells and cells[0].strip() == "SKU":
            return [c.strip() for c in cells]
    return None


def _is_offer(row: dict[str, str]) -> bool:
    if any(row.get(column) != value for column, value in OFFER_FILTER.items()):
        return False
    family = row.get("Product Family", "Compute Instance")
    return family.startswith("Compute Instance") and row["Unit"] in ("Hrs", "Hours")


def _on_demand_offer(row: dict[str, str], specs: dict[str, InstanceSpecs]) -> OfferRow:
    instance_type = row["Instance Type"].strip()
    try:
        price = parse_price(row["PricePerUnit"])
    except ValueError:
        raise ValueError(f"non-numeric PricePerUnit {row['PricePerUnit']!r}") from None
    if price == 0:
        raise ValueError(f"price of {instance_type} is 0")
    instance = InstanceSpecs(
        vcpus=_quantity(row.get("vCPU")),
        memory_gb=_quantity(row.get("Memory")),
        disk_gb=_storage_gb(row.get("Storage", "")),
        gpus=_gpu_count(instance_type, row.get("GPU", "")),
    )
    specs[instance_type] = instance
    offer = _offer(
        instance_type, instance, PricingModel.ON_DEMAND, price, region=row["Region Code"].strip()
    )
    return replace(offer, currency=row.get("Currency") or "USD")


def _quantity(text: str | None) -> Decimal | None:
    """ "1152 GiB" -> 1152, "96" -> 96, "NA" -> None."""
    match = re.match(r"\s*([\d,.]+)", text or "")
    return parse_decimal(match.group(1).replace(",", "")) if match else None


def _storage_gb(text: str) -> Decimal | None:
    """ "8 x 1000 SSD" -> 8000, "1 x 250 NVMe SSD" -> 250, "EBS only" -> None."""
    match = re.match(r"\s*(\d+)\s*x\s*([\d,.]+)", text)
    if not match:
        return None
    try:
        return int(match.group(1)) * Decimal(match.group(2).replace(",", ""))
    except InvalidOperation:  # "1 x . SSD": a row problem (ValueError), not a crash
        raise ValueError(f"unreadable Storage {text!r}") from None


def _gpu_count(instance_type: str, gpu_column: str) -> int:
    try:
        count = parse_count(gpu_column)
    except ValueError:
        count = 0  # "NA" and the like: fall back to the family table
    return count or _family_gpus(instance_type)


def _family_gpus(instance_type: str) -> int:
    family_name, _, size = instance_type.partition(".")
    family = INSTANCE_FAMILY_GPUS.get(family_name)
    return family.gpus_by_size.get(size, family.gpus) if family else 0


def _offer(
    instance_type: str,
    specs: InstanceSpecs,
    pricing: str,
    price: Decimal,
    *,
    region: str,
    zone: str = "",
) -> OfferRow:
    family_name = instance_type.partition(".")[0]
    family = INSTANCE_FAMILY_GPUS.get(family_name)
    if family is not None:
        label, memory_mib = family.label, family.memory_gb * MIB_PER_GB
    else:  # an accelerated family this table does not know yet: the pipeline records it
        label, memory_mib = (family_name if specs.gpus else ""), None
    return OfferRow(
        sku=instance_type,
        provider="aws",
        gpu_label=label,
        gpu_count=specs.gpus if label else 0,
        price_per_hour=price,
        pricing=pricing,
        gpu_memory_mib=memory_mib if label else None,
        vcpus=specs.vcpus,
        memory_gb=specs.memory_gb,
        disk_gb=specs.disk_gb,
        region=region,
        zone=zone,
    )


# -- spot price history -------------------------------------------------------------------------


def spot_offers(
    payload, where: str, specs: dict[str, InstanceSpecs]
) -> Iterator[OfferRow | RowError]:
    """The latest Linux spot price per (instance type, zone)."""
    history = payload.get("SpotPriceHistory") if isinstance(payload, dict) else None
    if not isinstance(history, list):
        yield RowError(where=where, reason="no SpotPriceHistory list")
        return
    latest: dict[tuple[str, str], dict] = {}
    for index, entry in enumerate(history):
        # names must be text: a list there is unhashable, a number has no zone to parse
        if not isinstance(entry, dict) or not all(
            isinstance(entry.get(name), str) and entry[name]
            for name in ("InstanceType", "AvailabilityZone")
        ):
            yield RowError(
                where=f"{where}[{index}]", reason="entry without InstanceType or AvailabilityZone"
            )
            continue
        product = entry.get("ProductDescription")
        if not isinstance(product, str) or product not in LINUX_SPOT_PRODUCTS:
            continue
        key = (entry["InstanceType"], entry["AvailabilityZone"])
        if key not in latest or str(entry.get("Timestamp")) > str(latest[key].get("Timestamp")):
            latest[key] = entry
    for (instance_type, zone), entry in latest.items():
        try:
            price = parse_price(entry.get("SpotPrice"))
        except ValueError:
            yield RowError(
                where=f"{where} {instance_type} {zone}",
                reason=f"non-numeric SpotPrice {entry.get('SpotPrice')!r}",
            )
            continue
        instance = specs.get(instance_type) or InstanceSpecs(
            None, None, None, _family_gpus(instance_type)
        )
        yield _offer(
            instance_type,
            instance,
            PricingModel.SPOT,
            price,
            region=region_of_zone(zone),
            zone=zone,
        )


def region_of_zone(zone: str) -> str:
    """ "us-east-1a" -> "us-east-1"; a local zone "us-east-1-atl-2a" -> "us-east-1"."""
    match = re.match(r"([a-z]{2}(?:-gov)?-[a-z]+-\d+)", zone)
    return match.group(1) if match else zone
