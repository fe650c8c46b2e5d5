"""A small local Stripe for Connect transfers (localstripe has no Connect and ignores
idempotency keys): `POST /v1/transfers` answered with Stripe's transfer object, each
request's form body and `Idempotency-Key` recorded.

Like Stripe, it remembers what each idempotency key made: a repeat of the key gets the
first transfer back, never a second one. `script` makes the next requests misbehave:
"500" (answered 500, nothing made, as Stripe's own failure before it acted) or "stall"
(the transfer is made, then the answer is held `stall_seconds` or until `release()`: the
caller's timeout fires, or its worker is killed, while Stripe has made it).
"""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import pytest


@dataclass
class Recorded:
    path: str
    idempotency_key: str | None
    form: dict[str, str]


@dataclass
class FakeConnect:
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    transfers: dict[str, dict] = field(default_factory=dict)  # idempotency key → transfer
    script: list[str] = field(default_factory=list)
    stall_seconds: float = 30
    released: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def release(self) -> None:
        self.released.set()

    def respond(self, path: str, key: str | None, form: dict[str, str]) -> tuple[int, dict, bool]:
        """(status, body, stall) for one request."""
        with self.lock:
            self.requests.append(Recorded(path, key, form))
            if path != "/v1/transfers":
                return (
                    404,
                    _error("invalid_request_error", f"Unrecognized request URL {path}"),
                    False,
                )
            behaviour = self.script.pop(0) if self.script else "ok"
            if behaviour == "500":
                return 500, _error("api_error", "An unknown error occurred."), False
            if key is not None and key in self.transfers:
                return 200, self.transfers[key], False
            transfer = _transfer(len(self.transfers) + 1, form)
            self.transfers[key or transfer["id"]] = transfer
            return 200, transfer, behaviour == "stall"


def _error(kind: str, message: str) -> dict:
    return {"error": {"type": kind, "message": message}}


def _transfer(number: int, form: dict[str, str]) -> dict:
    """Stripe's transfer object (API 2024+), as `POST /v1/transfers` answers it."""
    transfer_id = f"tr_fake{number:06d}"
    metadata = {k[len("metadata[") : -1]: v for k, v in form.items() if k.startswith("metadata[")}
    return {
        "id": transfer_id,
        "object": "transfer",
        "amount": int(form.get("amount", "0")),
        "amount_reversed": 0,
        "balance_transaction": f"txn_fake{number:06d}",
        "created": int(time.time()),
        "currency": form.get("currency", ""),
        "description": None,
        "destination": form.get("destination", ""),
        "destination_payment": f"py_fake{number:06d}",
        "livemode": False,
        "metadata": metadata,
        "reversals": {
            "object": "list",
            "data": [],
            "has_more": False,
            "total_count": 0,
            "url": f"/v1/transfers/{transfer_id}/reversals",
        },
        "reversed": False,
        "source_transaction": None,
        "source_type": "card",
        "transfer_group": None,
    }


def _handler(fake: FakeConnect):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            length = int(self.headers.get("Content-Length") or 0)
            form = dict(parse_qsl(self.rfile.read(length).decode()))
            status, body, stall = fake.respond(self.path, self.headers.get("Idempotency-Key"), form)
            if stall:
                fake.released.wait(fake.stall_seconds)
            payload = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Request-Id", "req_fake")
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the caller gave up (its timeout) or died

        def log_message(self, *args):  # quiet
            pass

    return Handler


@pytest.fixture
def stripe_connect(settings):
    """The fake, served on 127.0.0.1, with settings.STRIPE_API_BASE pointing at it."""
    with connect_served() as fake:
        settings.STRIPE_API_BASE = fake.url
        yield fake


@contextmanager
def connect_served():
    """The fake, served on 127.0.0.1 (its `url`) until the block ends."""
    fake = FakeConnect()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        fake.release()
        server.shutdown()
        server.server_close()
