"""A provider's webhook endpoint for tests: a real HTTP server on 127.0.0.1.

One server per test module (starting and stopping one takes half a second), cleared for
each test. Import both fixtures into a test module and ask for `webhook_server`:
`from brokers.tests.webhook_receiver import webhook_server_fixture, webhook_module_server_fixture`
"""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer


@pytest.fixture(name="webhook_module_server", scope="module")
def webhook_module_server_fixture():
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    try:
        yield server
    finally:
        server.clear()
        server.stop()


@pytest.fixture(name="webhook_server")
def webhook_server_fixture(webhook_module_server):
    webhook_module_server.clear()
    yield webhook_module_server
    webhook_module_server.clear()
