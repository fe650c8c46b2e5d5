"""Offer lists as CSV files for the provider pages: read an upload into the items of the bulk
upsert (`PUT /api/v1/provider/offers/`, the same checks and messages, each bad row named by
its line), and write the provider's offers in the same columns (a template to edit)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field

from common.errors import DomainError
from marketplace.api.provider_offers import MAX_BULK_OFFERS, validated_items
from marketplace.services.provider_offers import MAX_REPORTED_ERRORS

COLUMNS = (
    "sku", "gpu", "gpu_count", "vcpus", "memory_gb", "disk_gb", "region", "pricing",
    "price_per_hour", "available",
)  # fmt: skip
REQUIRED_COLUMNS = ("sku", "gpu", "gpu_count", "region", "price_per_hour", "available")
MAX_CSV_BYTES = 1_000_000
MAX_CSV_ROWS = MAX_BULK_OFFERS


@dataclass(frozen=True)
class RowError:
    line: int
    message: str


@dataclass
class OfferCsv:
    """The rows of a file, as the API's items (text values; an empty cell is left out, so
    that the API's default applies), each with the line it started on."""

    items: list[dict] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    checked: list[dict] = field(default_factory=list)  # the items typed, when none is bad

    def row_errors(self, error: DomainError) -> list[RowError]:
        """An item error of the API (`errors`: index, message) as errors by line."""
        listed = error.extra.get("errors") or [{"index": None, "message": error.message}]
        return [RowError(self._line(e.get("index")), e["message"]) for e in listed]

    def _line(self, index: int | None) -> int:
        return self.lines[index] if index is not None and index < len(self.lines) else 0


def offer_csv_read(data: bytes) -> OfferCsv:
    """The file's rows, checked as the API checks an offer list. Refuses a file that is too
    large or not CSV (DomainError: file_too_large, too_many_offers, invalid_csv); bad rows
    are in `errors` with their line."""
    if len(data) > MAX_CSV_BYTES:
        raise DomainError(
            "file_too_large", f"The file is {len(data)} bytes; at most {MAX_CSV_BYTES} are read."
        )
    try:
        text = data.decode("utf-8-sig")  # the byte-order mark spreadsheets write
    except UnicodeDecodeError:
        raise DomainError("invalid_csv", "The file is not UTF-8 text.") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        parsed = _rows(reader)
    except csv.Error as exc:
        raise DomainError("invalid_csv", f"Line {reader.line_num}: {exc}.") from None
    _check_items(parsed)
    return parsed


def _rows(reader) -> OfferCsv:
    header = _header(next(reader, None))
    parsed, start = OfferCsv(), reader.line_num + 1
    for record in reader:
        if any(cell.strip() for cell in record):
            _add_row(parsed, header, record, start)
        start = reader.line_num + 1
    return parsed


def _add_row(parsed: OfferCsv, header: list[str], record: list[str], line: int) -> None:
    if len(parsed.items) >= MAX_CSV_ROWS:
        raise DomainError(
            "too_many_offers", f"At most {MAX_CSV_ROWS} offers per file: send it in parts."
        )
    if len(record) != len(header) and len(parsed.errors) < MAX_REPORTED_ERRORS:
        message = f"{len(header)} values expected (the header's columns), {len(record)} found."
        parsed.errors.append(RowError(line, message))
    parsed.items.append({k: v.strip() for k, v in zip(header, record, strict=False) if v.strip()})
    parsed.lines.append(line)


def _header(record: list[str] | None) -> list[str]:
    header = [name.strip().lower() for name in record or []]
    unknown = [name for name in header if name not in COLUMNS]
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    repeated = sorted({name for name in header if header.count(name) > 1})
    if unknown or missing or repeated:
        raise DomainError(
            "invalid_csv",
            "The first line must name the columns: "
            + ", ".join(COLUMNS)
            + _listed(" (missing: ", missing)
            + _listed(" (unknown: ", unknown)
            + _listed(" (repeated: ", repeated),
        )
    return header


def _listed(prefix: str, names: list[str]) -> str:
    return f"{prefix}{', '.join(names)})" if names else ""


def _check_items(parsed: OfferCsv) -> None:
    try:
        parsed.checked = offer_items_checked(parsed.items)
    except DomainError as exc:
        # a row with too few or too many values is wrong for that reason only
        miscounted = {error.line for error in parsed.errors}
        parsed.errors += [e for e in parsed.row_errors(exc) if e.line not in miscounted]
    parsed.errors.sort(key=lambda error: error.line)


def offer_items_checked(items: list[dict]) -> list[dict]:
    """The rows as the bulk upsert takes them (typed, defaults filled in), checked by the
    API's serializer: a DomainError with every bad row's index otherwise."""
    return validated_items(items)


def offers_csv_write(items: Sequence[dict]) -> str:
    """Items (`offers_as_items`) as a CSV file that `offer_csv_read` reads back."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for item in items:
        writer.writerow([item[name] for name in COLUMNS])
    return out.getvalue()
