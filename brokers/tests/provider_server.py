"""A local HTTP server on 127.0.0.1 standing in for a provider's API in tests.

Import it into a test module (`from brokers.tests.provider_server import
provider_server_fixture`) and ask for `provider_server`.
One server runs for the whole test session (stopping one takes half a second); each test
gets it with no expectations and an empty log.
"""

from __future__ import annotations

import atexit

import pytest
from pytest_httpserver import HTTPServer

_shared: HTTPServer | None = None


def _server() -> HTTPServer:
    global _shared
    if _shared is None:
        # threaded: a handler that sleeps (to provoke a client timeout) must not block the next call
        _shared = HTTPServer(host="127.0.0.1", port=0, threaded=True)
        _shared.start()
        atexit.register(_shared.stop)
    return _shared


@pytest.fixture(name="provider_server")
def provider_server_fixture():
    server = _server()
    server.clear()
    yield server
    server.clear()
