"""A small local Stripe that records what it is sent, for what localstripe cannot show: it
ignores idempotency keys and has no Connect. Serves `POST /v1/payment_intents`,
`POST /v1/refunds` and `POST /v1/transfers` with Stripe's objects, each request's form body
and `Idempotency-Key` recorded.

Like Stripe, it remembers what each idempotency key made: a repeat of the key gets the first
object back, never a second one. `script` makes the next requests misbehave: "500"
(answered 500, nothing made, as Stripe's own failure before it acted), "stall" (the object
is made, then the answer is held `stall_seconds` or until `release()`: the caller's timeout
fires, or its worker is killed, while Stripe has made it) or "decline" (a PaymentIntent
whose card is declined: 402 with the intent, status requires_payment_method).
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
class FakeStripe:
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    made: dict[tuple[str, str], dict] = field(default_factory=dict)  # (path, key) → object
    script: list[str] = field(default_factory=list)
    stall_seconds: float = 30
    released: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def release(self) -> None:
        self.released.set()

    def objects(self, path: str) -> list[dict]:
        """What was made at `path` (e.g. "/v1/payment_intents"): one per idempotency key."""
        return [made for (made_path, _), made in self.made.items() if made_path == path]

    @property
    def transfers(self) -> dict[str, dict]:
        return {key: made for (path, key), made in self.made.items() if path == "/v1/transfers"}

    def respond(self, path: str, key: str | None, form: dict[str, str]) -> tuple[int, dict, bool]:
        """(status, body, stall) for one request."""
        with self.lock:
            self.requests.append(Recorded(path, key, form))
            make = _MAKERS.get(path)
            if make is None:
                return (
                    404,
                    _error("invalid_request_error", f"Unrecognized request URL {path}"),
                    False,
                )
            behaviour = self.script.pop(0) if self.script else "ok"
            if behaviour == "500":
                return 500, _error("api_error", "An unknown error occurred."), False
            remembered = self.made.get((path, key)) if key is not None else None
            if remembered is None:
                number = len(self.objects(path)) + 1
                remembered = make(number, form, declined=behaviour == "decline")
                self.made[(path, key or remembered["id"])] = remembered
            if remembered.get("status") == "requires_payment_method":
                return 402, _card_error(remembered), False
            return 200, remembered, behaviour == "stall"


def _error(kind: str, message: str) -> dict:
    return {"error": {"type": kind, "message": message}}


def _card_error(intent: dict) -> dict:
    """Stripe's answer to a confirmed PaymentIntent whose card is declined."""
    return {
        "error": {
            "type": "card_error",
            "code": "card_declined",
            "decline_code": "generic_decline",
            "message": "Your card was declined.",
            "payment_intent": intent,
        }
    }


def _metadata(form: dict[str, str]) -> dict[str, str]:
    return {k[len("metadata[") : -1]: v for k, v in form.items() if k.startswith("metadata[")}


def _payment_intent(number: int, form: dict[str, str], *, declined: bool) -> dict:
    """Stripe's PaymentIntent, confirmed off-session: succeeded, or declined."""
    error = (
        {"code": "card_declined", "message": "Your card was declined.", "type": "card_error"}
        if declined
        else None
    )
    return {
        "id": f"pi_fake{number:06d}",
        "object": "payment_intent",
        "amount": int(form.get("amount", "0")),
        "amount_received": 0 if declined else int(form.get("amount", "0")),
        "currency": form.get("currency", ""),
        "customer": form.get("customer"),
        "payment_method": form.get("payment_method"),
        "confirmation_method": "automatic",
        "livemode": False,
        "metadata": _metadata(form),
        "last_payment_error": error,
        "status": "requires_payment_method" if declined else "succeeded",
    }


def _refund(number: int, form: dict[str, str], *, declined: bool) -> dict:
    return {
        "id": f"re_fake{number:06d}",
        "object": "refund",
        "amount": int(form.get("amount", "0")),
        "currency": "usd",
        "payment_intent": form.get("payment_intent"),
        "metadata": _metadata(form),
        "status": "succeeded",
    }


def _transfer(number: int, form: dict[str, str], *, declined: bool = False) -> dict:
    """Stripe's transfer object (API 2024+), as `POST /v1/transfers` answers it."""
    transfer_id = f"tr_fake{number:06d}"
    metadata = _metadata(form)
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


_MAKERS = {
    "/v1/payment_intents": _payment_intent,
    "/v1/refunds": _refund,
    "/v1/transfers": _transfer,
}


def _handler(fake: FakeStripe):
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
def fake_stripe(settings):
    """The fake, served on 127.0.0.1, with settings.STRIPE_API_BASE pointing at it."""
    with stripe_served() as fake:
        settings.STRIPE_API_BASE = fake.url
        yield fake


@contextmanager
def stripe_served():
    """The fake, served on 127.0.0.1 (its `url`) until the block ends."""
    fake = FakeStripe()
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
