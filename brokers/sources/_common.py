"""Helpers every pricing source shares: numbers off the wire, inputs, failure rows."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, ClassVar

from brokers.http import Download, HttpError, ProviderHttpClient
from brokers.sources.base import PricingSource, RowError, Rows, SourceInput
from common.money import quantize_rate


def parse_price(value: Any) -> Decimal:
    """A price as Decimal, 6 places. Floats go through str() so 0.36979999999999996 stays
    what the provider meant to an honest 6 places, not a binary expansion."""
    number = parse_decimal(value)
    if number is None:
        raise ValueError("price is empty")
    if number < 0:
        raise ValueError(f"price {value!r} is negative")
    return quantize_rate(number)  # rates keep 6 places: the one money helper


# No catalog figure comes near this. Past it, arithmetic on a provider's typo fails in ways
# that are no ValueError (quantizing to 6 places raises InvalidOperation past 22 digits,
# "1e999999" * 1024 raises Overflow) or takes hours (int(Decimal("1e9999999"))).
MAX_MAGNITUDE = Decimal(10) ** 15


def parse_decimal(value: Any) -> Decimal | None:
    """A finite Decimal below MAX_MAGNITUDE in size, or None for empty; ValueError for
    anything else."""
    if value.__class__ is str:
        return _decimal_from_text(value)
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    try:
        number = Decimal(value.strip()) if isinstance(value, str) else Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None
    return _within_range(number, value)


# Catalogs repeat the same few texts ("8", "80.0", "1.5") over thousands of rows; Decimal is
# immutable, so a parsed value can be handed out again. Errors are raised, never cached.
@functools.lru_cache(maxsize=16384)
def _decimal_from_text(text: str) -> Decimal | None:
    stripped = text.strip()
    if not stripped:
        return None
    try:
        number = Decimal(stripped)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a number") from None
    return _within_range(number, text)


def _within_range(number: Decimal, value: Any) -> Decimal:
    if not number.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    if number.copy_abs() >= MAX_MAGNITUDE:  # copy_abs: exact, where abs() can overflow
        raise ValueError(f"{value!r} is out of range")
    return number


def parse_count(value: Any) -> int:
    """A whole count written as "8", "8.0" or 8.0; empty is 0."""
    number = parse_decimal(value)
    if number is None:
        return 0
    if number != number.to_integral_value() or number < 0:
        raise ValueError(f"{value!r} is not a whole count")
    return int(number)


def positive_price_or_none(value: Any) -> Decimal | None:
    """Empty or zero means "no such offer" in most catalogs; a real price otherwise."""
    number = parse_decimal(value)
    if number is None or number == 0:
        return None
    # zero at the 6 places rates keep is zero too ("1e-9" is no free offer)
    return parse_price(number) or None


def source_failure(source_name: str, detail: str, reason: str) -> RowError:
    """A failure of the whole source (or of one of its files), not of a row. The sync
    pipeline treats `where` starting with "source" or "http" as "this run is incomplete":
    it then withdraws nothing."""
    return RowError(where=f"source {source_name}: {detail}", reason=reason)


# -- fingerprints of inputs (see SourceInput) -------------------------------------------------

FINGERPRINT_CHUNK_BYTES = 1 << 20


def bytes_fingerprint(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def file_fingerprint(path: Path) -> str:
    """A file's content hash, "" when it cannot be read (the reader reports why)."""
    return files_fingerprint([path])


def files_fingerprint(paths: Iterable[Path]) -> str:
    """One hash over several files read as one input (names included: a renamed file is a
    change), "" when one cannot be read."""
    digest = hashlib.sha256()
    try:
        for path in paths:
            digest.update(f"{path.name}\0".encode())
            with path.open("rb") as handle:
                while chunk := handle.read(FINGERPRINT_CHUNK_BYTES):
                    digest.update(chunk)
    except OSError:
        return ""
    return f"sha256:{digest.hexdigest()}"


def etag_fingerprint(etag: str) -> str:
    return f"etag:{etag}" if etag else ""


def previous_etag(previous_fingerprint: str | None) -> str:
    """The validator to send back: only a fingerprint that came from the server's ETag."""
    fingerprint = previous_fingerprint or ""
    return fingerprint.removeprefix("etag:") if fingerprint.startswith("etag:") else ""


def failed_input(error: RowError, *, name: str = "") -> SourceInput:
    """An input that could not be had at all (a missing folder, an HTTP error): reading it
    yields the failure, which tells the sync that this run saw only part of the source."""
    return SourceInput(name=name or error.where, fingerprint="", read=lambda: iter((error,)))


def not_modified_input(name: str, fingerprint: str, source_name: str) -> SourceInput:
    """An input the server said has not changed (304): the sync skips it, because its
    fingerprint is the one the last sync recorded. There is no body: should it be read
    anyway, that is a failure of this run, never an empty input."""
    error = source_failure(source_name, name, "not modified since the last sync: no body")
    return SourceInput(name=name, fingerprint=fingerprint, read=lambda: iter((error,)))


def downloaded_input(
    name: str, download: Download, source_name: str, read: Callable[[Path], Rows]
) -> SourceInput:
    """A conditional download (`ProviderHttpClient.downloaded_if_changed`) as an input:
    304 is the unchanged input the last sync recorded; a body is fingerprinted by the
    server's ETag (sent back next time), or by its bytes when the server sends none."""
    if download.path is None:
        return not_modified_input(name, etag_fingerprint(download.etag), source_name)
    fingerprint = etag_fingerprint(download.etag) or file_fingerprint(download.path)
    return SourceInput(
        name=name, fingerprint=fingerprint, read=functools.partial(read, download.path)
    )


# -- sources whose input is one JSON document (an API response or a saved copy) -----------------


@dataclass(frozen=True)
class JsonBody:
    """A JSON document's bytes, fingerprinted before they are decoded: an unchanged one is
    never decoded. `decode` gives the payload, or the RowError saying why it cannot."""

    data: bytes
    decode: Callable[[bytes], object]


def json_input(name: str, body: JsonBody | RowError, rows: Callable[[object], Rows]) -> SourceInput:
    if isinstance(body, RowError):
        return failed_input(body, name=name)

    def read() -> Rows:
        payload = body.decode(body.data)
        if isinstance(payload, RowError):
            yield payload
        else:
            yield from rows(payload)

    return SourceInput(name=name, fingerprint=bytes_fingerprint(body.data), read=read)


def json_file_body(path: Path, failure: Callable[[str], RowError]) -> JsonBody | RowError:
    """A saved response; `failure(reason)` names the source's failure when it is unreadable."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return failure(str(exc))

    def decode(data: bytes):
        try:
            return json.loads(data, parse_float=Decimal)
        except (ValueError, RecursionError) as exc:  # Recursion: "[[[[..." nested too deep
            return failure(str(exc))

    return JsonBody(data, decode)


def json_api_body(
    client: ProviderHttpClient, method: str, path: str, *, params=None, json_body=None
) -> JsonBody | RowError:
    """An API response (a read-only call, retried by the client like any other)."""
    where = client.url_for(path)
    try:
        data = client.body(method, path, params=params, json=json_body)
    except HttpError as exc:
        return RowError(where=exc.url or where, reason=str(exc))

    def decode(data: bytes):
        try:
            return client.json_of_body(data, method=method, path=path, parse_float=Decimal)
        except HttpError as exc:
            return RowError(where=exc.url or where, reason=str(exc))

    return JsonBody(data, decode)


class JsonDocumentSource(PricingSource):
    """A source whose one input is a JSON document: an API response, or a saved copy of it
    (`path`). Such APIs send no validators, so the document is hashed (`json_input`).
    Subclasses set the names and implement `_api_body` and `_rows`."""

    input_name: ClassVar[str]  # the input in the sync record ("bundles")
    document: ClassVar[str]  # what a saved copy holds, for its failure ("offers")

    def inputs(
        self, *, path: str | None = None, previous: Mapping[str, str] | None = None
    ) -> Iterator[SourceInput]:
        body = self._saved_body(Path(path)) if path else self._api_body()
        yield json_input(self.input_name, body, self._rows)

    def _saved_body(self, path: Path) -> JsonBody | RowError:
        return json_file_body(
            path,
            lambda reason: source_failure(
                self.name, str(path), f"cannot read {self.document}: {reason}"
            ),
        )

    def _api_body(self) -> JsonBody | RowError:
        raise NotImplementedError

    def _rows(self, payload) -> Rows:
        raise NotImplementedError
