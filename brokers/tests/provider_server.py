"""A local HTTP server on 127.0.0.1 standing in for a provider's API in tests.

Import it into a test module (`from brokers.tests.provider_server import
provider_server_fixture`) and ask for `provider_server`.
One server runs for the whole test session (stopping one takes half a second); each test
gets it with no expectations and an empty log.
"""

from __future__ import annotations

import atexit
import threading
import time

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response


class _SharedServer(HTTPServer):
    """Counts requests in flight, so a test ends only after its slow handlers have answered.

    A client that timed out leaves its handler running; were the next test to start, that
    handler's late log entry would land in the next test's log.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._in_flight = 0
        self._idle = threading.Condition()

    def application(self, request: Request) -> Response:
        with self._idle:
            self._in_flight += 1
        try:
            return super().application(request)
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def wait_idle(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._in_flight and time.monotonic() < deadline:
                self._idle.wait(deadline - time.monotonic())


_shared: _SharedServer | None = None


def _server() -> _SharedServer:
    global _shared
    if _shared is None:
        # threaded: a handler that sleeps (to provoke a client timeout) must not block the next call
        _shared = _SharedServer(host="127.0.0.1", port=0, threaded=True)
        _shared.start()
        atexit.register(_shared.stop)
    return _shared


@pytest.fixture(name="provider_server")
def provider_server_fixture():
    server = _server()
    server.clear()
    yield server
    server.wait_idle()
    server.clear()
