"""Web requests run their SQL under WEB_STATEMENT_TIMEOUT_MS: a statement past it is
cancelled by PostgreSQL and the request answers 503 query_timeout (API) or a 503 page;
the connection keeps no timeout after the request, and code outside requests has none."""

from __future__ import annotations

import pytest
from django.db import connection

from common.errors import DomainError
from tests.factories import OfferFactory

# Transactional: a cancelled statement aborts the transaction it runs in, and a test's own
# transaction would then refuse every later statement of the test.
pytestmark = pytest.mark.django_db(transaction=True)

SLEEP_SECONDS = 2


def _slow_search(**kwargs):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(%s)", [SLEEP_SECONDS])
    raise AssertionError("the statement should have been cancelled")


def _session_timeout() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        return cursor.fetchone()[0]


@pytest.fixture
def slow_search(monkeypatch, settings):
    settings.WEB_STATEMENT_TIMEOUT_MS = 50
    monkeypatch.setattr("marketplace.api.catalog.offer_search", _slow_search)
    monkeypatch.setattr("marketplace.views.offer_search", _slow_search)


def test_it_answers_503_query_timeout_when_a_statement_runs_too_long(api_client, slow_search):
    # given a search whose SQL sleeps for 2 s, and a 50 ms limit
    # when the API is asked
    response = api_client.get("/api/v1/offers/")
    # then the database cancelled it: a 503 in the error format, with a time to wait
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "query_timeout"
    assert response["Retry-After"] == "30"
    # and the connection is left as it was, for whatever it serves next
    assert _session_timeout() == "0"


def test_a_page_answers_a_503_page(client, slow_search):
    response = client.get("/offers/")
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert b"query_timeout" in response.content
    assert b"took too long" in response.content


def test_it_leaves_requests_within_the_limit_alone(api_client, settings):
    # given an offer and the default limit
    offer = OfferFactory()
    settings.WEB_STATEMENT_TIMEOUT_MS = 5000
    # when the catalog is read
    response = api_client.get("/api/v1/offers/")
    # then the answer is the usual one, and the session's timeout is reset afterwards
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [offer.pk]
    assert _session_timeout() == "0"


def _search_that_reports_its_timeout(seen: list):
    def search(**kwargs):
        seen.append(_session_timeout())
        raise DomainError("invalid_query", "Reported.", position=0)

    return search


def test_the_limit_applies_during_a_request_only(client, settings, monkeypatch):
    # given a page whose search reports the timeout its SQL runs under
    settings.WEB_STATEMENT_TIMEOUT_MS = 1234
    seen = []
    monkeypatch.setattr("marketplace.views.offer_search", _search_that_reports_its_timeout(seen))
    # when the page is asked for
    client.get("/offers/")
    # then the request ran under the limit, and this code, outside a request, does not
    assert seen == ["1234ms"]
    assert _session_timeout() == "0"


def test_zero_turns_the_limit_off(client, settings, monkeypatch):
    settings.WEB_STATEMENT_TIMEOUT_MS = 0
    seen = []
    monkeypatch.setattr("marketplace.views.offer_search", _search_that_reports_its_timeout(seen))
    client.get("/offers/")
    assert seen == ["0"]


# --- a web server's process: the limit as a connection option ----------------------------


@pytest.fixture
def web_process_connection():
    """The connection settings as a web server's process leaves them, put back afterwards."""
    from common.db import STARTUP_TIMEOUT

    entry = connection.settings_dict
    options = dict(entry.get("OPTIONS", {}))
    yield
    connection.close()
    entry["OPTIONS"] = options
    entry.pop(STARTUP_TIMEOUT, None)


def _no_per_request_set(*args, **kwargs):
    raise AssertionError("the middleware set the timeout: the connection should have it")


def test_a_web_process_opens_its_connections_with_the_limit(
    web_process_connection, api_client, settings, monkeypatch
):
    from common.db import limit_web_connections

    # given a web process's connections, limited to 50 ms
    settings.WEB_STATEMENT_TIMEOUT_MS = 50
    limit_web_connections()
    # then the connection has the limit from its start, without a request
    assert _session_timeout() == "50ms"
    # and a request's statement past it is cancelled: 503 query_timeout, with no SET sent
    monkeypatch.setattr("common.db._TimeoutOnFirstStatement", _no_per_request_set)
    monkeypatch.setattr("marketplace.api.catalog.offer_search", _slow_search)
    response = api_client.get("/api/v1/offers/")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "query_timeout"
    # and the connection still has it for the next request
    assert _session_timeout() == "50ms"


def test_a_web_process_with_another_limit_in_force_still_sets_it(
    web_process_connection, client, settings, monkeypatch
):
    from common.db import limit_web_connections

    # given connections opened with 5000 ms, and the setting changed since (a test's)
    settings.WEB_STATEMENT_TIMEOUT_MS = 5000
    limit_web_connections()
    settings.WEB_STATEMENT_TIMEOUT_MS = 1234
    seen = []
    monkeypatch.setattr("marketplace.views.offer_search", _search_that_reports_its_timeout(seen))
    # when a page is asked for
    client.get("/offers/")
    # then the request ran under the setting, and the connection went back to its own
    assert seen == ["1234ms"]
    assert _session_timeout() == "5s"


def test_the_web_servers_entry_points_limit_their_connections(web_process_connection, settings):
    import importlib

    from common.db import STARTUP_TIMEOUT

    settings.WEB_STATEMENT_TIMEOUT_MS = 4321
    for module in ("config.wsgi", "config.asgi"):
        connection.settings_dict.pop(STARTUP_TIMEOUT, None)
        importlib.reload(importlib.import_module(module))
        assert connection.settings_dict[STARTUP_TIMEOUT] == 4321
    assert _session_timeout() == "4321ms"


def test_zero_adds_no_connection_option(web_process_connection, settings):
    from common.db import STARTUP_TIMEOUT, limit_web_connections

    settings.WEB_STATEMENT_TIMEOUT_MS = 0
    limit_web_connections()
    assert STARTUP_TIMEOUT not in connection.settings_dict
    assert _session_timeout() == "0"
