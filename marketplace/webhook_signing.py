"""Webhook signatures, Stripe style: HMAC-SHA256 over `f"{timestamp}.{body}"`.

We sign what we send to providers (launch and terminate requests) with the provider's
`webhook_secret`; providers check it with `verify_signature` (or its few lines in their own
language). The header is `X-GPUMarket-Signature: t=<unix seconds>,v1=<hex digest>`; while a secret
is rotated it carries one `v1` per valid secret (the new one's first), and a verifier
accepts the delivery when any of them matches. The timestamp is signed too, so an
old delivery replayed later is refused once it is older than the tolerance.
Pure Python: no Django.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable

SIGNATURE_HEADER = "X-GPUMarket-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300


class InvalidSignature(ValueError):
    """The header is missing or malformed, the digest does not match, or it is too old."""


def _as_text(body: bytes | str) -> str:
    return body.decode("utf-8") if isinstance(body, bytes) else body


def compute_signature(secret: str, timestamp: int, body: bytes | str) -> str:
    message = f"{timestamp}.{_as_text(body)}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(
    secret: str,
    body: bytes | str,
    *,
    timestamp: int | None = None,
    previous_secrets: Iterable[str] = (),
) -> str:
    """`t=<timestamp>,v1=<digest>`, and one more `v1=` per previous secret, after the
    current one's: a verifier that accepts any `v1` (as `verify_signature`) keeps working
    with either secret while a rotation's overlap lasts."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digests = (compute_signature(s, timestamp, body) for s in (secret, *previous_secrets))
    return ",".join([f"t={timestamp}", *(f"{SCHEME}={digest}" for digest in digests)])


def _parse(header: str) -> tuple[int, list[str]]:
    timestamp, digests = None, []
    for part in (header or "").split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        # ASCII digits, a few of them: str.isdigit() takes "²", which int() refuses
        if key == "t" and value.isascii() and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif key == SCHEME:
            digests.append(value)
    if timestamp is None or not digests:
        raise InvalidSignature(f"expected a header like 't=<unix time>,{SCHEME}=<hex digest>'")
    return timestamp, digests


def verify_signature(
    secret: str,
    header: str,
    body: bytes | str,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    *,
    now: float | None = None,
) -> int:
    """Check a signature header against the raw body; return its timestamp.

    Raises InvalidSignature when no digest matches, or when the timestamp is more than
    `tolerance` seconds away from now (older: a replay; newer: a forged or skewed clock).
    """
    if not secret:
        raise InvalidSignature("no webhook secret to check against")
    timestamp, digests = _parse(header)
    expected = compute_signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, digest) for digest in digests):
        raise InvalidSignature("the signature does not match the body")
    age = (time.time() if now is None else now) - timestamp
    if abs(age) > tolerance:
        raise InvalidSignature(f"the timestamp is {int(age)} s away from now (limit {tolerance} s)")
    return timestamp
