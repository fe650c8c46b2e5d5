"""Which addresses the platform may call when a user chose them (a provider's webhook).

The checks that need no network: is an address public, and is a URL acceptable before
anything resolves it. `brokers.outbound` applies the first again at connect time.

And which address called us (`client_ip`), behind our proxies, for the rate limits."""

from __future__ import annotations

import contextlib
import ipaddress
import re
from urllib.parse import urlsplit

from django.conf import settings


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_user_url(url: str, *, allow_http: bool, allow_private: bool = False) -> str | None:
    """Why a URL a user gave for us to call is refused, or None. What can be known without
    resolving it: https (http only when allowed, for development), no credentials, a host
    that is not a literal non-public address nor a name for this machine. The connect-time
    check (brokers.outbound) is the one that counts; this one answers the user at once."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme != "https" and not (allow_http and parts.scheme == "http"):
        return "must be an https:// URL"
    if parts.username or parts.password:
        return "must not carry a user name or password"
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        return "has no host"
    if port == 0:
        return "has no valid port"
    if allow_private:
        return None
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        return "must name a public host"
    with contextlib.suppress(ValueError):
        if not is_public_address(host):
            return "must name a public address"
    return None


_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_POSIX_USER = re.compile(r"[A-Za-z_][A-Za-z0-9._-]{0,31}")


def is_host(text: str) -> bool:
    """An IP address or a DNS host name: nothing an ssh command line could read as an
    option (`-oProxyCommand=...`) or as a second argument."""
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(text)
        return True
    labels = text.rstrip(".").split(".")
    return len(text) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in labels)


def is_posix_user_name(text: str) -> bool:
    """A portable POSIX user name: letters, digits, '.', '_', '-', not starting with '-'."""
    return bool(_POSIX_USER.fullmatch(text))


def is_port(value) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()):
            return False
        value = int(value)
    return isinstance(value, int) and 1 <= value <= 65535


def client_ip(request) -> str:
    """The address of the client that sent `request` (a Django or a DRF request), the one the
    limits are keyed by: REMOTE_ADDR when NUM_PROXIES is 0 (the app faces the internet), else
    the address our outermost proxy saw, the NUM_PROXIES-th entry of X-Forwarded-For from the
    right. Each of our proxies appends the address it was called from; what is left of those
    entries the client wrote itself, so it is never read. A header with fewer entries (a
    request that skipped proxies) gives its leftmost; an entry that is not an address,
    REMOTE_ADDR. DRF's NUM_PROXIES is the same setting, so its `get_ident` agrees."""
    remote = request.META.get("REMOTE_ADDR") or ""
    proxies = settings.NUM_PROXIES
    if proxies > 0:
        header = request.META.get("HTTP_X_FORWARDED_FOR", "")
        hops = [hop.strip() for hop in header.split(",") if hop.strip()]
        if hops:
            seen = _address(hops[-min(proxies, len(hops))])
            if seen is not None:
                return seen
    return _address(remote) or remote


def _address(text: str) -> str | None:
    """`text` as an IP address, without a port some proxies add (`1.2.3.4:5678`,
    `[2001:db8::1]:443`), or None."""
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None
