"""SkyPilot's public price catalog (github.com/skypilot-org/skypilot-catalog,
`catalogs/v8/<cloud>/vms.csv`) as a pricing source: one file per cloud, many clouds.

Read from a local path (one `vms.csv`, whose parent folder names the cloud, or a folder of
cloud folders) or from the published URL (`SKYPILOT_CATALOG_URL`, clouds from
`SKYPILOT_CATALOG_CLOUDS`). The quirks of the real files (../shared/data/README.md):
- columns are read by name: their order differs per cloud, unknown clouds just work;
- `GpuInfo` is a Python repr (with `null` in hyperstack's) or JSON; its per-GPU size is the
  row's total on vast, and GB instead of MiB on RunPod;
- spot is a `SpotPrice` column (empty or 0 = no spot offer; equal to Price = still a spot
  offer) or a separate `...__SPOT` row with an empty Price;
- GCP splits host and GPU prices into separate rows (see `_skypilot_gcp`);
- CPU-only rows are yielded with gpu_label "" and gpu_count 0, for the pipeline to count.
GPU labels and regions are passed on as written: the sync pipeline normalises them.
"""

from __future__ import annotations

import ast
import csv
import functools
import json
import math
import operator
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path

from django.conf import settings

from brokers.http import HttpError, ProviderHttpClient
from brokers.sources._common import (
    downloaded_input,
    failed_input,
    file_fingerprint,
    parse_count,
    parse_decimal,
    positive_price_or_none,
    previous_etag,
    source_failure,
)
from brokers.sources._skypilot_gcp import GcpSplitPricing, PricedRow, combine, tpu_chips
from brokers.sources.base import OfferRow, PricingModel, PricingSource, RowError, SourceInput
from marketplace.gpu_names import interconnect_from_label

DEFAULT_CLOUDS = (
    "aws", "gcp", "lambda", "oci", "runpod", "vast", "cudo", "nebius", "hyperstack",
    "hyperbolic", "jarvislabs", "lium", "mithril", "daytona", "yotta", "verda",
    "shadeform", "seeweb", "primeintellect", "spheron",
)  # fmt: skip
REQUIRED_COLUMNS = ("InstanceType", "AcceleratorName", "AcceleratorCount", "Price", "Region")
NOT_OFFER_FOLDERS = frozenset({"common"})  # common/accelerators.csv maps names to clouds
SPOT_ROW_SUFFIX = "__SPOT"
# vast's GpuInfo puts the whole row's GPU memory in the per-GPU `SizeInMiB` field.
GPU_INFO_SIZE_IS_ROW_TOTAL = frozenset({"vast"})
MAX_GPU_INFO_CHARS = 10_000  # GpuInfo is parsed with ast: bound what we hand it


class RowProblem(ValueError):
    """A row that cannot become an offer; the message is the reason shown to operators."""


@dataclass  # not frozen: see PricedRow
class CatalogRow(PricedRow):
    disk_gb: Decimal | None = None
    gpu_memory_mib: int | None = None
    gpu_model: str = ""  # GpuInfo's name when it says more than AcceleratorName
    extra: dict = field(default_factory=dict)


class SkypilotCatalogSource(PricingSource):
    name = "skypilot-catalog"
    provider_slug = "skypilot"  # each row names its own provider: the cloud folder
    complete = True
    freshness_limit_seconds = 24 * 3600  # the catalog is regenerated a few times a day

    def __init__(
        self, *, base_url: str | None = None, clouds: Iterable[str] | None = None, **client_options
    ):
        self.base_url = base_url
        self.clouds = tuple(clouds) if clouds else None
        self.client_options = client_options

    @classmethod
    def provider_slugs(cls) -> frozenset[str]:
        """Each row names its cloud: the clouds read by default and those configured."""
        configured = {c.strip() for c in settings.SKYPILOT_CATALOG_CLOUDS if c.strip()}
        return super().provider_slugs() | set(DEFAULT_CLOUDS) | configured

    def inputs(
        self, *, path: str | None = None, previous: Mapping[str, str] | None = None
    ) -> Iterator[SourceInput]:
        """One input per cloud file, named `<cloud>/vms.csv` wherever it is read from."""
        if path and not path.startswith(("http://", "https://")):
            yield from self._local_inputs(Path(path))
        else:
            yield from self._remote_inputs(path, previous or {})

    def _local_inputs(self, path: Path) -> Iterator[SourceInput]:
        try:
            files = catalog_files(path)
        except (FileNotFoundError, NotADirectoryError) as exc:
            yield failed_input(source_failure(self.name, str(path), str(exc)))
            return
        if not files:
            reason = "no <cloud>/vms.csv under this folder"
            yield failed_input(source_failure(self.name, str(path), reason))
        for cloud, file in files:
            yield SourceInput(
                name=f"{cloud}/vms.csv",
                fingerprint=file_fingerprint(file),
                read=functools.partial(read_vms_csv, cloud, file, source_name=self.name),
            )

    def _remote_inputs(
        self, base_url: str | None, previous: Mapping[str, str]
    ) -> Iterator[SourceInput]:
        """raw.githubusercontent.com answers `If-None-Match` with 304 when a file has not
        changed: an unchanged cloud costs a request and no download."""
        base = base_url or self.base_url or settings.SKYPILOT_CATALOG_URL
        client = ProviderHttpClient(base, **self.client_options)
        for cloud in self._cloud_names():
            name, url = f"{cloud}/vms.csv", client.url_for(f"{cloud}/vms.csv")
            try:
                etag = previous_etag(previous.get(name))
                with client.downloaded_if_changed(url, etag=etag, suffix=".csv") as download:
                    read = functools.partial(
                        read_vms_csv, cloud, source_name=self.name, shown_as="vms.csv"
                    )
                    yield downloaded_input(name, download, self.name, read)
            except HttpError as exc:
                yield failed_input(RowError(where=exc.url or url, reason=str(exc)), name=name)

    def _cloud_names(self) -> tuple[str, ...]:
        configured = self.clouds or settings.SKYPILOT_CATALOG_CLOUDS or DEFAULT_CLOUDS
        return tuple(c.strip() for c in configured if c.strip())


def catalog_files(path: Path) -> list[tuple[str, Path]]:
    """(cloud, vms.csv) pairs under a path: a file, a cloud folder or a folder of clouds."""
    if path.is_file():
        return [(path.parent.name.lower(), path)]
    if not path.is_dir():
        raise FileNotFoundError(f"no such file or folder: {path}")
    if (path / "vms.csv").is_file():
        return [(path.name.lower(), path / "vms.csv")]
    return [
        (child.name.lower(), child / "vms.csv")
        for child in sorted(path.iterdir())
        if child.name not in NOT_OFFER_FOLDERS and (child / "vms.csv").is_file()
    ]


def read_vms_csv(
    cloud: str, file: Path, *, source_name: str, shown_as: str = ""
) -> Iterator[OfferRow | RowError]:
    """Stream one cloud's vms.csv; a bad row becomes a RowError and the rest goes on."""
    label = f"{cloud}/{shown_as or file.name}"
    if cloud in NOT_OFFER_FOLDERS:
        yield source_failure(source_name, label, "not an offer file (it maps names to clouds)")
        return
    with file.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
        reader = csv.reader(handle)  # lists, read by position: no dict built per row
        try:
            columns = Columns(next(reader, []))
        except csv.Error as exc:  # a header field past csv's size limit
            yield source_failure(source_name, label, f"malformed CSV header: {exc}")
            return
        missing = [c for c in REQUIRED_COLUMNS if c not in columns.names]
        if missing:
            yield source_failure(source_name, label, f"missing columns: {', '.join(missing)}")
            return
        gcp = GcpSplitPricing() if cloud == "gcp" else None
        for where, row in _rows_with_lines(reader, label):
            if isinstance(row, RowError):
                yield row
                continue
            try:
                parsed = parse_row(cloud, row, columns)
            except ValueError as exc:
                yield RowError(where=where, reason=str(exc))
                continue
            yield from offers_of(cloud, parsed, where, gcp)
        if gcp is not None:
            yield from _joined_gcp_offers(cloud, gcp)


class Columns:
    """A file's header: the columns `parse_row` reads, found by name (their order differs
    per cloud). A column the file lacks reads as empty."""

    READ = (
        "InstanceType", "AcceleratorName", "AcceleratorCount", "Price", "SpotPrice", "vCPUs",
        "MemoryGiB", "StorageGiB", "Region", "AvailabilityZone", "GpuInfo", "Arch",
        "UpstreamCloudId",
    )  # fmt: skip

    def __init__(self, header: list[str]) -> None:
        self.names = {name: index for index, name in enumerate(header)}  # the last of a name
        self.count = len(header)
        # a lacking column points at the empty field `parse_row` appends to every row
        self.read = operator.itemgetter(*(self.names.get(name, -1) for name in self.READ))


def _rows_with_lines(reader, label: str) -> Iterator[tuple[str, list[str] | RowError]]:
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            where = f"{label}:{reader.line_num}"
            yield where, RowError(where=where, reason=f"malformed CSV line: {exc}")
            continue
        if row:  # a blank line is no row
            yield f"{label}:{reader.line_num}", row


def parse_row(cloud: str, row: list[str], columns: Columns) -> CatalogRow:
    if len(row) != columns.count:
        raise RowProblem(f"expected {columns.count} fields, got {len(row)}")
    row.append("")  # what a column the file lacks reads (Columns.read)
    (instance_type, label, count_text, price, spot, vcpus, memory_gb, disk_gb, region, zone,
     gpu_info, arch, upstream_id) = columns.read(row)  # fmt: skip
    label = label.strip()
    count = _number(parse_count, "AcceleratorCount", count_text)
    if label and count <= 0:
        raise RowProblem(f"accelerator {label!r} with AcceleratorCount {count_text!r}")
    memory_mib, gpu_model = gpu_facts(cloud, gpu_info, count, label)
    return CatalogRow(
        instance_type=instance_type.strip(),
        label=label,
        count=count if label else 0,
        price=_number(positive_price_or_none, "Price", price),
        spot=_number(positive_price_or_none, "SpotPrice", spot),
        vcpus=_number(parse_decimal, "vCPUs", vcpus),
        memory_gb=_number(parse_decimal, "MemoryGiB", memory_gb),
        disk_gb=_number(parse_decimal, "StorageGiB", disk_gb),
        region=region.strip(),
        zone=zone.strip(),
        gpu_memory_mib=memory_mib,
        gpu_model=gpu_model,
        extra=_extra(arch, upstream_id),
    )


def _extra(arch: str, upstream_id: str) -> dict:
    extra = {}
    if arch:
        extra["Arch"] = arch
    if upstream_id:
        extra["UpstreamCloudId"] = upstream_id
    return extra


def _number(parse, column: str, text: str):
    try:
        return _parsed(parse, text)
    except ValueError:
        raise RowProblem(f"non-numeric {column} {text!r}") from None


# A catalog repeats the same few numbers ("8", "80.0", "1.5") over thousands of rows, and
# every parser here is a pure function of the text returning an immutable value: remember
# them, per parser (errors are raised, never cached).
@functools.lru_cache(maxsize=16384)
def _parsed(parse, text: str | None):
    return parse(text)


def offers_of(
    cloud: str, row: CatalogRow, where: str, gcp: GcpSplitPricing | None
) -> Iterator[OfferRow | RowError]:
    if not row.instance_type and row.label:
        if (chips := tpu_chips(row.label)) is not None:
            yield from priced_offers(cloud, _as_tpu_slice(row, chips), where)
        elif gcp is not None:
            gcp.add_accelerator(row, where)
        else:
            yield RowError(where=where, reason=f"accelerator {row.label!r} without InstanceType")
        return
    if gcp is not None and gcp.keep_host(row):
        return
    yield from priced_offers(cloud, row, where)


def priced_offers(cloud: str, row: CatalogRow, where: str) -> Iterator[OfferRow | RowError]:
    """The on-demand and the spot offer a row carries (either may be absent)."""
    sku, on_demand, spot = row.instance_type, row.price, row.spot
    if sku.upper().endswith(SPOT_ROW_SUFFIX):  # a spot-only row: its price is the spot price
        sku, on_demand, spot = sku[: -len(SPOT_ROW_SUFFIX)], None, spot or on_demand
    if on_demand is None and spot is None:
        yield RowError(where=where, reason="no price: Price and SpotPrice are empty or 0")
        return
    for pricing, price in ((PricingModel.ON_DEMAND, on_demand), (PricingModel.SPOT, spot)):
        if price is not None:
            yield _offer(cloud, row, sku, pricing, price)


def _offer(cloud: str, row: CatalogRow, sku: str, pricing: str, price: Decimal) -> OfferRow:
    extra = dict(row.extra)
    if row.gpu_model:
        extra["gpu_model"] = row.gpu_model
    return OfferRow(
        sku=sku,
        provider=cloud,
        gpu_label=row.label,
        gpu_count=row.count,
        price_per_hour=price,
        pricing=pricing,
        gpu_memory_mib=row.gpu_memory_mib,
        vcpus=row.vcpus,
        memory_gb=row.memory_gb,
        disk_gb=row.disk_gb,
        region=row.region,
        zone=row.zone,
        interconnect=interconnect_from_label(f"{row.label} {row.gpu_model}") if row.label else "",
        extra=extra,
    )


def _as_tpu_slice(row: CatalogRow, chips: int) -> CatalogRow:
    """A TPU row is one slice ("tpu-v6e-8", count 1); the market counts chips."""
    extra = {**row.extra, "tpu_slice": row.label}
    return replace(row, instance_type=row.label, count=chips, extra=extra)


def _joined_gcp_offers(cloud: str, gcp: GcpSplitPricing) -> Iterator[OfferRow | RowError]:
    for accelerator, host_or_reason, where in gcp.joined():
        if accelerator is None:
            yield RowError(where=where, reason=host_or_reason)
        else:
            combined = combine(accelerator, host_or_reason)
            extra = {**combined.extra, "host_instance_type": host_or_reason.instance_type}
            yield from priced_offers(cloud, replace(combined, extra=extra), where)


# -- GpuInfo ---------------------------------------------------------------------------------


class _JsonLiterals(ast.NodeTransformer):
    """Lets literal_eval read JSON's null/true/false inside a Python repr (hyperstack)."""

    VALUES = {"null": None, "true": True, "false": False}

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in self.VALUES:
            return ast.copy_location(ast.Constant(self.VALUES[node.id]), node)
        return node


# A catalog repeats the same few GpuInfo texts over thousands of rows (one per instance type,
# listed in every region), and parsing a Python repr with `ast` is slow: remember the facts
# we take from it. The key holds all inputs and the value is an immutable tuple.
@functools.lru_cache(maxsize=4096)
def gpu_facts(cloud: str, gpu_info_text: str, count: int, label: str) -> tuple[int | None, str]:
    """(per-GPU memory in MiB, GpuInfo's GPU name when it says more than the label)."""
    gpu_info = parse_gpu_info(gpu_info_text)
    memory_mib = per_gpu_memory_mib(cloud, gpu_info, count) if label else None
    return memory_mib, _gpu_model(gpu_info, label)


def parse_gpu_info(text: str | None) -> dict | None:
    """GpuInfo as a dict, from JSON or a Python repr; None when absent or unreadable
    (it is descriptive only, so an unreadable one never costs the row)."""
    if not text or not text.strip() or len(text) > MAX_GPU_INFO_CHARS:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested past the limit
        try:
            value = ast.literal_eval(_JsonLiterals().visit(ast.parse(text.strip(), mode="eval")))
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return None
    return value if isinstance(value, dict) else None


def per_gpu_memory_mib(cloud: str, gpu_info: dict | None, count: int) -> int | None:
    first = _first_gpu(gpu_info)
    memory_info = first.get("MemoryInfo") if isinstance(first.get("MemoryInfo"), dict) else {}
    size = _float_or_none(memory_info.get("SizeInMiB"))
    if size is None:
        total = _float_or_none(
            (gpu_info or {}).get("TotalGpuMemoryInMiB") or first.get("TotalGpuMemoryInMiB")
        )
        size = total / count if total and count else None
    if not size:
        return None
    if size < 1024:  # RunPod writes GB into the MiB field ("SizeInMiB": 80)
        size *= 1024
    if cloud in GPU_INFO_SIZE_IS_ROW_TOTAL and count > 1:
        size /= count
    return round(size)


def _first_gpu(gpu_info: dict | None) -> dict:
    gpus = (gpu_info or {}).get("Gpus")
    if isinstance(gpus, list) and gpus and isinstance(gpus[0], dict):
        return gpus[0]
    return {}


def _gpu_model(gpu_info: dict | None, label: str) -> str:
    name = _first_gpu(gpu_info).get("Name")
    return name.strip() if isinstance(name, str) and name.strip() and name.strip() != label else ""


def _float_or_none(value) -> float | None:
    """A positive finite float: a GpuInfo size of 1e999 (inf) or of 400 digits (too big for a
    float) is no size, and round() would raise on it."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if 0 < number < math.inf else None
