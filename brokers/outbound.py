"""Requests to addresses that a user chose (a provider's webhook URL): the public internet only.

Anyone can register a provider, so a webhook URL is attacker-controlled. Three defences,
all at the moment of connecting, where they cannot be raced:

- the host name is resolved once, every address it resolves to must be public (not
  loopback, private, link-local, multicast, reserved, shared or unspecified), and the socket
  connects to the address that was checked, so a DNS answer that changes between the check
  and the connect (rebinding) cannot point us inside;
- a wall-clock deadline on the whole exchange: at the deadline the socket is shut down from
  a timer, so a reply dribbled a byte at a time cannot hold a worker past it, whatever the
  per-read timeouts;
- no proxy from the environment (it would be the address we check, not the target).

Reading the reply is capped by the caller (`brokers.http`), which never keeps its body.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from common.net import is_public_address


class UnsafeDestination(Exception):
    """The URL's host is, or resolves to, an address we must not connect to. Deliberately
    not an OSError: urllib3 would turn it into a retried connection error."""


def public_addresses(host: str, port: int) -> list[tuple]:
    """getaddrinfo's answers for (host, port) when every one of them is public; otherwise
    UnsafeDestination (a name that resolves partly inside is refused outright)."""
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UnsafeDestination(f"{host} does not resolve ({exc.strerror})") from None
    refused = sorted({answer[4][0] for answer in answers if not is_public_address(answer[4][0])})
    if refused and not getattr(_exchange, "allow_private", False):
        raise UnsafeDestination(f"{host} resolves to a non-public address ({refused[0]})")
    return answers


# --- the deadline ---------------------------------------------------------------------------

_exchange = threading.local()


@contextlib.contextmanager
def exchange_deadline(seconds: float, *, allow_private: bool = False) -> Iterator[None]:
    """Every connection opened inside is shut down `seconds` after the block starts.
    `allow_private` lifts the address check (WEBHOOK_ALLOW_PRIVATE_ADDRESSES: tests whose
    providers listen on loopback); the deadline still holds."""
    _exchange.deadline = time.monotonic() + seconds
    _exchange.timers = []
    _exchange.allow_private = allow_private
    try:
        yield
    finally:
        for timer in _exchange.timers:
            timer.cancel()
        _exchange.deadline = None
        _exchange.timers = []
        _exchange.allow_private = False


def deadline_passed() -> bool:
    deadline = getattr(_exchange, "deadline", None)
    return deadline is not None and time.monotonic() >= deadline


def _arm(sock: socket.socket) -> None:
    deadline = getattr(_exchange, "deadline", None)
    if deadline is None:
        return
    timer = threading.Timer(max(0.0, deadline - time.monotonic()), _cut, args=(sock,))
    timer.daemon = True
    timer.start()
    _exchange.timers.append(timer)


def _cut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)  # a blocked recv returns at once


# --- connections that check where they go ---------------------------------------------------


class _PublicOnly:
    """Mixed into urllib3's connections: resolve, check, connect to the checked address."""

    def _new_conn(self) -> socket.socket:
        answers = public_addresses(self._dns_host, self.port)
        last_error: OSError | None = None
        for family, kind, proto, _name, address in answers:
            sock = socket.socket(family, kind, proto)
            try:
                for option in self.socket_options or ():
                    sock.setsockopt(*option)
                if isinstance(self.timeout, int | float):
                    sock.settimeout(self.timeout)
                sock.connect(address)
            except OSError as exc:
                sock.close()
                last_error = exc
                continue
            _arm(sock)
            return sock
        raise last_error or OSError(f"could not connect to {self._dns_host}")


class _PublicHTTPConnection(_PublicOnly, HTTPConnection):
    pass


class _PublicHTTPSConnection(_PublicOnly, HTTPSConnection):
    pass


class _PublicHTTPPool(HTTPConnectionPool):
    ConnectionCls = _PublicHTTPConnection


class _PublicHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PublicHTTPSConnection


class PublicOnlyAdapter(HTTPAdapter):
    """A requests adapter whose connections reach public addresses only."""

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _PublicHTTPPool,
            "https": _PublicHTTPSPool,
        }
