"""The one HTTP client wrapper for provider APIs.

Timeouts on every call, retries with capped exponential backoff for transient failures only
(connection errors, timeouts, 429, 502, 503, 504; `Retry-After` honoured), "next link"
paging and streaming downloads. Errors are `TransientHttpError` (worth trying again later:
the above, plus 500 and other 5xx, which are raised at once rather than hammered) or
`PermanentHttpError` (4xx: retrying will not help). The API key goes in a header only, and is
scrubbed from every message this module builds or logs, so it never reaches a sync record.

A client made with `public_only=True` calls URLs that users chose (a provider's webhook):
it connects only to public addresses (`brokers.outbound`), gives the whole exchange a
wall-clock deadline, reads at most `MAX_USER_REPLY_BYTES` of a reply, and never puts a reply's
body in an error: its messages carry a status and a reason of ours.
"""

from __future__ import annotations

import email.utils
import json as jsonlib
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from brokers.outbound import (
    PublicOnlyAdapter,
    UnsafeDestination,
    deadline_passed,
    exchange_deadline,
)
from common.net import check_user_url

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 502, 503, 504})
NOT_MODIFIED = 304
_TRANSPORT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
BODY_EXCERPT_CHARS = 200
DOWNLOAD_CHUNK_BYTES = 1 << 20
USER_AGENT = "gpu-market/0.1 (+pricing sync)"
MAX_USER_REPLY_BYTES = 64 * 1024  # a webhook's answer is a status; its body is never kept


class _SecretScrubber(logging.Filter):
    """Removes known API keys from urllib3's records: at DEBUG it logs each request line,
    query string included, and some providers take the key as a query parameter."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(secret in message for secret in self.secrets):
            for secret in self.secrets:
                message = message.replace(secret, "***")
            record.msg, record.args = message, ()
        return True


_scrubber = _SecretScrubber()
logging.getLogger("urllib3.connectionpool").addFilter(_scrubber)


@dataclass(frozen=True)
class Download:
    path: Path | None  # None: not modified since the validator we sent
    etag: str


class _DeadlinePassed(requests.ConnectionError):
    """The exchange with a user's URL outlived its deadline (`ProviderHttpClient.deadline`)."""


class HttpError(Exception):
    """A provider call that failed. `url` carries no query string and no credentials."""

    def __init__(self, message: str, *, url: str = "", status: int | None = None, body: str = ""):
        super().__init__(message)
        self.url = url
        self.status = status
        self.body_excerpt = body


class TransientHttpError(HttpError):
    """Timeout, connection failure, 429 or 5xx: the same call may work later."""


class PermanentHttpError(HttpError):
    """4xx (bad key, bad request, not found) or an unreadable body: retrying will not help."""


class ProviderHttpClient:
    def __init__(
        self,
        base_url: str = "",
        *,
        api_key: str | None = None,
        auth_scheme: str = "Bearer",
        timeout: tuple[float, float] = (5, 30),
        max_retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        headers: dict[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
        public_only: bool = False,
        allow_http: bool = False,
        allow_private: bool = False,
        deadline: float = 30.0,
    ):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._api_key = api_key or ""
        self._sleep = sleep
        self._session = session or requests.Session()
        self.public_only, self.deadline = public_only, deadline
        self.allow_http, self.allow_private = allow_http, allow_private
        if public_only:
            self._session.trust_env = False  # an environment proxy would be what we check
            for prefix in ("http://", "https://"):
                self._session.mount(prefix, PublicOnlyAdapter())
        self._headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})}
        if self._api_key:
            self._headers["Authorization"] = f"{auth_scheme} {self._api_key}".strip()
            _scrubber.secrets.add(self._api_key)

    # -- public calls ---------------------------------------------------------------------

    def get_json(self, path: str, params: dict | None = None, *, parse_float=None) -> Any:
        response = self._request("GET", path, params=params)
        return self._json_of(response, parse_float)

    def post_json(
        self,
        path: str,
        json: Any = None,
        headers: dict[str, str] | None = None,
        *,
        parse_float=None,
        retry: bool = True,
    ) -> Any:
        """POST a JSON body. Pass `retry=False` for calls that are not safe to repeat."""
        response = self._request("POST", path, json=json, headers=headers, retry=retry)
        return self._json_of(response, parse_float)

    def post_bytes(
        self, path: str, body: bytes, headers: dict[str, str] | None = None, *, retry: bool = False
    ) -> int:
        """POST a body exactly as given (a signed webhook: re-serialising it would break the
        signature) and accept any 2xx, JSON or not. Redirects are refused: a redirected POST
        silently becomes a GET. Returns the status code."""
        response = self._request(
            "POST", path, data=body, headers=headers, retry=retry, allow_redirects=False
        )
        with response:
            if not 200 <= response.status_code < 300:
                safe_url = self._safe_url(self.url_for(path))
                raise PermanentHttpError(
                    f"POST {safe_url}: HTTP {response.status_code} is not a 2xx",
                    url=safe_url,
                    status=response.status_code,
                )
        return response.status_code

    def put_json(self, path: str, json: Any = None, *, parse_float=None, retry: bool = True) -> Any:
        """PUT a JSON body. Pass `retry=False` for calls that are not safe to repeat."""
        response = self._request("PUT", path, json=json, retry=retry)
        return self._json_of(response, parse_float)

    def delete(self, path: str, params: dict | None = None, headers: dict | None = None) -> Any:
        response = self._request("DELETE", path, params=params, headers=headers)
        return self._json_of(response, None) if response.content.strip() else None

    def get_bytes(self, url: str, params: dict | None = None) -> bytes:
        return self._request("GET", url, params=params).content

    def download(self, url: str, params: dict | None = None, *, suffix: str = "") -> Path:
        """Stream a (large) body to a temporary file; the caller removes it."""
        response = self._request("GET", url, params=params, stream=True)
        return self._save(response, url, suffix)

    def _save(self, response: requests.Response, url: str, suffix: str) -> Path:
        handle, name = tempfile.mkstemp(prefix="gpu-market-", suffix=suffix)
        try:
            with os.fdopen(handle, "wb") as out, response:
                for chunk in response.iter_content(DOWNLOAD_CHUNK_BYTES):
                    out.write(chunk)
        except _TRANSPORT_ERRORS as exc:
            os.unlink(name)
            raise self._transport_error("GET", self._safe_url(url), exc) from None
        except BaseException:
            os.unlink(name)
            raise
        return Path(name)

    @contextmanager
    def downloaded(
        self, url: str, params: dict | None = None, *, suffix: str = ""
    ) -> Iterator[Path]:
        """`download` as a context manager that removes the file afterwards."""
        path = self.download(url, params, suffix=suffix)
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)

    @contextmanager
    def downloaded_if_changed(
        self, url: str, *, etag: str = "", suffix: str = ""
    ) -> Iterator[Download]:
        """A conditional GET (`If-None-Match: <etag>`): `Download.path` is None when the
        server answers 304 Not Modified, else the body in a temporary file, removed
        afterwards. `Download.etag` is the server's validator for the next call ("" when it
        sends none)."""
        headers = {"If-None-Match": etag} if etag else {}
        response = self._request("GET", url, headers=headers, stream=True)
        if response.status_code == NOT_MODIFIED:
            response.close()
            yield Download(path=None, etag=etag)
            return
        path = self._save(response, url, suffix)
        try:
            yield Download(path=path, etag=response.headers.get("ETag", ""))
        finally:
            path.unlink(missing_ok=True)

    def body(
        self, method: str, path: str, *, params: dict | None = None, json: Any = None
    ) -> bytes:
        """The raw body of a read-only call (retried like any other): a source fingerprints
        it before deciding whether to parse it (`json_of_body`)."""
        return self._request(method, path, params=params, json=json).content

    def json_of_body(self, body: bytes, *, method: str, path: str, parse_float=None) -> Any:
        """`body` parsed as JSON; PermanentHttpError (as `get_json` raises) when it is not."""
        return self._parse_json(body, method, self.url_for(path), parse_float)

    def paginate(self, path: str, params: dict | None = None, **options) -> Iterator[Any]:
        """Yield each page's JSON (`paginate_bodies` without the bodies)."""
        for _body, page in self.paginate_bodies(path, params, **options):
            yield page

    def paginate_bodies(
        self,
        path: str,
        params: dict | None = None,
        *,
        next_link: Callable[[Any], str | None],
        parse_float=None,
        max_pages: int = 10_000,
    ) -> Iterator[tuple[bytes, Any]]:
        """Yield each page's raw body (for a source that fingerprints them) and JSON,
        following `next_link(page)` (an absolute or relative URL) until it returns nothing.
        A link seen twice is a provider bug, not an endless loop."""
        url, page_params, seen = path, params, set()
        for _ in range(max_pages):
            body = self.body("GET", url, params=page_params)
            page = self.json_of_body(body, method="GET", path=url, parse_float=parse_float)
            yield body, page
            link = next_link(page)
            if not link:
                return
            if link in seen:
                raise PermanentHttpError("paging loop: next link repeats", url=self._safe_url(link))
            seen.add(link)
            url, page_params = link, None
        raise PermanentHttpError(f"more than {max_pages} pages", url=self._safe_url(url))

    def close(self) -> None:
        self._session.close()

    def url_for(self, path: str) -> str:
        """An absolute URL as is; otherwise `path` under the base URL ("" is the base)."""
        if path.startswith(("http://", "https://")) or not self.base_url:
            return path
        return f"{self.base_url}/{path.lstrip('/')}" if path else self.base_url

    # -- the retry loop -------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict | None = None,
        json: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        stream: bool = False,
        retry: bool = True,
        allow_redirects: bool = True,
    ) -> requests.Response:
        url = self.url_for(path)
        safe_url = self._safe_url(url)
        attempts = self.max_retries + 1 if retry else 1
        if self.public_only and (
            reason := check_user_url(
                url, allow_http=self.allow_http, allow_private=self.allow_private
            )
        ):
            raise PermanentHttpError(
                f"{method} {safe_url}: refused: the URL {reason}", url=safe_url
            )
        for attempt in range(attempts):
            try:
                response = self._send(
                    method, url, params=params, json=json, data=data, stream=stream,
                    timeout=self.timeout, allow_redirects=allow_redirects,
                    headers={**self._headers, **(headers or {})},
                )  # fmt: skip
            except UnsafeDestination as exc:
                raise PermanentHttpError(
                    f"{method} {safe_url}: refused: {exc}", url=safe_url
                ) from None
            except _TRANSPORT_ERRORS as exc:
                error, wait = self._transport_error(method, safe_url, exc), self._backoff(attempt)
            else:
                if response.status_code < 400:
                    return response
                error = self._status_error(method, safe_url, response)
                response.close()
                if response.status_code not in RETRY_STATUSES:
                    raise error
                wait = self._retry_after(response) or self._backoff(attempt)
            if attempt + 1 >= attempts:
                raise error
            logger.warning("retrying %s %s in %.1fs: %s", method, safe_url, wait, error)
            self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, method: str, url: str, **kwargs) -> requests.Response:
        if not self.public_only:
            return self._session.request(method, url, **kwargs)
        # Streamed, so that the reply is read here, under the deadline and the cap.
        kwargs.update(stream=True, allow_redirects=False)
        with exchange_deadline(self.deadline, allow_private=self.allow_private):
            try:
                response = self._session.request(method, url, **kwargs)
                with response:
                    response._content = self._capped_body(response)
                if deadline_passed():  # cut mid-body: what was read is not the reply
                    raise _DeadlinePassed
            except _TRANSPORT_ERRORS:
                if deadline_passed():
                    raise _DeadlinePassed from None
                raise
        return response

    def _capped_body(self, response: requests.Response) -> bytes:
        body = bytearray()
        for chunk in response.iter_content(8192):
            body += chunk
            if len(body) > MAX_USER_REPLY_BYTES:
                raise requests.exceptions.ContentDecodingError(
                    f"reply larger than {MAX_USER_REPLY_BYTES // 1024} KB"
                )
        return bytes(body)

    def _backoff(self, attempt: int) -> float:
        return min(self.max_backoff, self.backoff * 2**attempt)

    def _retry_after(self, response: requests.Response) -> float | None:
        """Seconds from a `Retry-After` header (delta-seconds or HTTP date), capped."""
        value = response.headers.get("Retry-After", "").strip()
        if not value:
            return None
        if value.isascii() and value.isdigit():  # isdigit() alone takes "²", float() does not
            return min(self.max_backoff, float(value))
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return min(self.max_backoff, max(0.0, (when - datetime.now(UTC)).total_seconds()))

    # -- errors, scrubbed -----------------------------------------------------------------

    def _transport_error(self, method: str, safe_url: str, exc: Exception) -> TransientHttpError:
        if self.public_only:  # our reason only: the exception's text can quote the reply
            return TransientHttpError(
                f"{method} {safe_url}: {self._user_url_failure(exc)}", url=safe_url
            )
        kind = "timeout" if isinstance(exc, requests.Timeout) else "connection failed"
        detail = self._scrub(str(exc))[:BODY_EXCERPT_CHARS]
        return TransientHttpError(f"{method} {safe_url}: {kind} ({detail})", url=safe_url)

    def _user_url_failure(self, exc: Exception) -> str:
        if isinstance(exc, _DeadlinePassed):
            return f"no complete reply within {self.deadline:g} s"
        if isinstance(exc, requests.exceptions.ContentDecodingError):
            return f"reply larger than {MAX_USER_REPLY_BYTES // 1024} KB"
        return "timeout" if isinstance(exc, requests.Timeout) else "connection failed"

    def _status_error(self, method: str, safe_url: str, response: requests.Response) -> HttpError:
        status = response.status_code
        body = "" if self.public_only else self._excerpt(response)
        reason = "" if self.public_only else response.reason or ""  # the reason is theirs
        message = f"{method} {safe_url}: HTTP {status} {reason}".rstrip()
        message = f"{message}: {body}" if body else message
        kind = TransientHttpError if status == 429 or status >= 500 else PermanentHttpError
        return kind(message, url=safe_url, status=status, body=body)

    def _excerpt(self, response: requests.Response) -> str:
        try:
            text = response.text
        except (requests.RequestException, UnicodeError):
            return ""
        return self._excerpt_of(text)

    def _excerpt_of(self, text: str) -> str:
        return self._scrub(" ".join(text.split()))[:BODY_EXCERPT_CHARS]

    def _json_of(self, response: requests.Response, parse_float) -> Any:
        method = response.request.method if response.request else "GET"
        return self._parse_json(response.content, method, response.url or "", parse_float)

    def _parse_json(self, content: bytes, method: str, url: str, parse_float) -> Any:
        try:
            return jsonlib.loads(content, parse_float=parse_float)
        except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested past the limit
            safe_url = self._safe_url(url)
            body = self._excerpt_of(content.decode("utf-8", "replace"))
            raise PermanentHttpError(
                f"{method} {safe_url}: response is not JSON: {body}", url=safe_url, body=body
            ) from None

    def _safe_url(self, url: str) -> str:
        """The URL without query string or user info: queries can carry keys."""
        parts = urlsplit(url)
        netloc = parts.netloc.rsplit("@", 1)[-1]
        return self._scrub(urlunsplit((parts.scheme, netloc, parts.path, "", "")))

    def _scrub(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text
