"""dstack's gpuhunt catalog as a pricing source.

dstack publishes `catalog.zip` (`<base>/<version>/catalog.zip`, the latest version named in
`<base>/version`), holding one CSV per provider (`aws.csv`, `lambdalabs.csv`...) with the
columns `instance_name, location, price, cpu, memory, gpu_count, gpu_name, gpu_memory,
spot, disk_size, gpu_vendor, flags, cpu_arch, provider_data`. `gpu_memory` is GB per GPU,
`memory` is host RAM in GB, `spot` is "True"/"False". A local path may be one zip, a folder
of zips (one per provider or several providers each), or a provider CSV.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import IO

from django.conf import settings

from brokers.http import HttpError, ProviderHttpClient
from brokers.sources._common import (
    downloaded_input,
    failed_input,
    file_fingerprint,
    parse_count,
    parse_decimal,
    parse_price,
    previous_etag,
    source_failure,
)
from brokers.sources.base import OfferRow, PricingModel, PricingSource, RowError, SourceInput

REQUIRED_COLUMNS = ("instance_name", "location", "price", "gpu_count", "gpu_name", "spot")
# gpuhunt's provider names for providers this market knows under another slug.
PROVIDER_SLUGS = {"lambdalabs": "lambda", "vastai": "vast"}
REMOTE_INPUT = "catalog.zip"
# What a member's name must look like to name a provider (Provider.slug holds 60 characters).
PROVIDER_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,59}")
# What opening or reading a corrupt zip raises: bad header or CRC, bad deflate data, cut
# short, an unknown zip version or compression method, encryption, an offset before the
# file's start (OSError), a member name flagged UTF-8 that is not.
UNREADABLE_ZIP = (
    zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, OSError,
    UnicodeDecodeError,
)  # fmt: skip
MIB_PER_GB = 1024  # gpuhunt's GB is what providers call GB; dstack converts with x1024 too


class GpuhuntCatalogSource(PricingSource):
    name = "gpuhunt-catalog"
    provider_slug = "gpuhunt"  # rows carry their own provider
    complete = True
    freshness_limit_seconds = 24 * 3600

    def __init__(self, *, base_url: str | None = None, **client_options):
        self.base_url = base_url
        self.client_options = client_options

    @classmethod
    def provider_slugs(cls) -> frozenset[str]:
        """Rows name their provider (the file's name): the ones renamed here are known."""
        return super().provider_slugs() | set(PROVIDER_SLUGS) | set(PROVIDER_SLUGS.values())

    def inputs(
        self, *, path: str | None = None, previous: Mapping[str, str] | None = None
    ) -> Iterator[SourceInput]:
        """One input per local file (a zip or a provider CSV), or the published zip."""
        if path:
            yield from self._local_inputs(Path(path))
        else:
            yield from self._remote_inputs(previous or {})

    def _local_inputs(self, path: Path) -> Iterator[SourceInput]:
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".zip", ".csv"))
        elif path.is_file():
            files = [path]
        else:
            yield failed_input(source_failure(self.name, str(path), "no such file or folder"))
            return
        for file in files:
            yield SourceInput(
                name=file.name,
                fingerprint=file_fingerprint(file),
                read=functools.partial(self._read_file, file),
            )

    def _remote_inputs(self, previous: Mapping[str, str]) -> Iterator[SourceInput]:
        """The catalog is on S3, which answers `If-None-Match` with 304 when the object has
        not changed. The input is named without its version, so that a new version with the
        same bytes (same ETag) is still "unchanged"."""
        base = self.base_url or settings.GPUHUNT_CATALOG_URL
        client = ProviderHttpClient(base, **self.client_options)
        try:
            version = client.get_bytes("version").decode("utf-8", "replace").strip()
            etag = previous_etag(previous.get(REMOTE_INPUT))
            url = f"{version}/catalog.zip"
            with client.downloaded_if_changed(url, etag=etag, suffix=".zip") as download:
                read = functools.partial(self._read_file, shown_as=url)
                yield downloaded_input(REMOTE_INPUT, download, self.name, read)
        except HttpError as exc:
            error = RowError(where=exc.url or client.url_for("version"), reason=str(exc))
            yield failed_input(error, name=REMOTE_INPUT)

    def _read_file(self, file: Path, shown_as: str = "") -> Iterator[OfferRow | RowError]:
        shown_as = shown_as or file.name
        if file.suffix.lower() == ".csv":
            with file.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
                yield from read_provider_csv(file.stem, handle, file.name, source_name=self.name)
            return
        try:
            archive = zipfile.ZipFile(file)
        except UNREADABLE_ZIP as exc:
            yield source_failure(self.name, shown_as, f"not a readable zip: {exc}")
            return
        with archive:
            for member in _csv_members(archive.namelist()):
                where = f"{shown_as}/{member}"
                provider = Path(member).stem
                if not PROVIDER_NAME.fullmatch(provider.lower()):  # it becomes a provider slug
                    yield source_failure(self.name, where, "the file name is no provider name")
                    continue
                try:
                    with archive.open(member) as raw:
                        text = io.TextIOWrapper(
                            raw, encoding="utf-8-sig", errors="replace", newline=""
                        )
                        yield from read_provider_csv(provider, text, where, source_name=self.name)
                except UNREADABLE_ZIP as exc:  # a corrupt zip: the rest of this file is lost
                    yield source_failure(self.name, where, f"unreadable in the zip: {exc!r}")


def _csv_members(names: Iterable[str]) -> list[str]:
    return sorted(n for n in names if n.lower().endswith(".csv") and not n.startswith("__MACOSX"))


def read_provider_csv(
    provider: str, handle: IO[str], where: str, *, source_name: str
) -> Iterator[OfferRow | RowError]:
    reader = csv.DictReader(handle)
    try:
        header = reader.fieldnames or ()
    except csv.Error as exc:  # a header field past csv's size limit
        yield source_failure(source_name, where, f"malformed CSV header: {exc}")
        return
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        yield source_failure(source_name, where, f"missing columns: {', '.join(missing)}")
        return
    slug = PROVIDER_SLUGS.get(provider.lower(), provider.lower())
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            line = reader.reader.line_num  # DictReader.line_num lags on errors
            yield RowError(where=f"{where}:{line}", reason=f"malformed CSV line: {exc}")
            continue
        try:
            yield offer_from_row(slug, row)
        except ValueError as exc:
            yield RowError(where=f"{where}:{reader.line_num}", reason=str(exc))


def offer_from_row(provider: str, row: dict) -> OfferRow:
    if None in row or None in row.values():
        raise ValueError("wrong number of fields")
    label = (row["gpu_name"] or "").strip()
    price = _field(parse_price, row, "price")
    if price == 0:
        raise ValueError("price is 0")
    gpu_memory_gb = _field(parse_decimal, row, "gpu_memory")
    return OfferRow(
        sku=row["instance_name"].strip(),
        provider=provider,
        gpu_label=label,
        gpu_count=_field(parse_count, row, "gpu_count") if label else 0,
        price_per_hour=price,
        pricing=PricingModel.SPOT
        if row["spot"].strip().lower() == "true"
        else PricingModel.ON_DEMAND,
        gpu_memory_mib=round(gpu_memory_gb * MIB_PER_GB) if label and gpu_memory_gb else None,
        vcpus=_field(parse_decimal, row, "cpu"),
        memory_gb=_field(parse_decimal, row, "memory"),
        disk_gb=_field(parse_decimal, row, "disk_size"),
        region=row["location"].strip(),
        extra=_extra(row),
    )


def _field(parse, row: dict, column: str):
    try:
        return parse(row.get(column))
    except ValueError:
        raise ValueError(f"non-numeric {column} {row.get(column)!r}") from None


def _extra(row: dict) -> dict:
    extra: dict = {}
    for column in ("gpu_vendor", "cpu_arch"):
        if value := (row.get(column) or "").strip():
            extra[column] = value
    if flags := (row.get("flags") or "").strip():
        extra["flags"] = [f for f in flags.replace(",", " ").replace("|", " ").split() if f]
    if provider_data := (row.get("provider_data") or "").strip():
        extra["provider_data"] = _json_or_text(provider_data)
    return extra


def _json_or_text(text: str):
    """JSON as jsonb can hold it (numbers as text, NaN as "NaN": jsonb refuses NaN), or the
    text itself when it is no JSON (or is nested past the parser's recursion limit)."""
    try:
        return json.loads(text, parse_float=lambda s: str(Decimal(s)), parse_constant=str)
    except (ValueError, RecursionError):
        return text
