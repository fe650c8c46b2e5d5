"""The API answers what /api/schema/ says: schemathesis calls every GET endpoint a buyer and
a provider use, with the key of a seeded organization, and checks each response body
against the schema's description of that response."""

from __future__ import annotations

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.api_seed import Seeded, seed_api_org

CHECKS = [response_schema_conformance, not_a_server_error]
# Endpoints that answer a file, not JSON: nothing for the schema check to read.
NOT_JSON = {
    "/api/v1/invoices/{invoice_id}/csv/",
    "/api/v1/invoices/{invoice_id}/pdf/",
    "/api/v1/credit-notes/{credit_note_id}/pdf/",
    "/api/v1/exports/invoices.csv",
    "/api/v1/exports/invoice-lines.csv",
    "/api/v1/exports/focus.csv",
}


@pytest.fixture
def seeded(db) -> Seeded:
    return seed_api_org()


@pytest.fixture
def api_schema(db):
    # The WSGI app runs in this thread, inside the test's transaction: the connection must
    # outlive each request (Django's own test client keeps it open the same way).
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def _json_gets(api_schema) -> list:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    return [o for o in operations if o.method.upper() == "GET" and o.path not in NOT_JSON]


def _with_seeded_ids(case, seeded: Seeded):
    for name in case.path_parameters or {}:
        if name in seeded.path_ids:
            case.path_parameters[name] = seeded.path_ids[name]
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {seeded.owner.secret}"}
    return case


def test_get_responses_match_the_schema(api_schema, seeded):
    # given generated query parameters (page sizes, cursors, filters) and real ids: a few
    # examples per endpoint, so that the test stays short
    for operation in _json_gets(api_schema):

        @given(case=operation.as_strategy())
        @settings(
            max_examples=8, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def answers_as_documented(case):
            # when the endpoint is called: then its answer is what the schema says (for
            # the statuses it documents), and never a 500
            _with_seeded_ids(case, seeded).call_and_validate(checks=CHECKS)

        answers_as_documented()


def test_every_get_endpoint_answers_200_as_documented(api_schema, seeded):
    # given every GET endpoint with real ids and no query parameters
    called = []
    for operation in _json_gets(api_schema):
        names = [parameter.name for parameter in operation.path_parameters]
        if not set(names) <= set(seeded.path_ids):
            continue  # a path parameter nothing was seeded for (quotes)
        case = _with_seeded_ids(operation.Case(path_parameters=dict.fromkeys(names)), seeded)
        # when it is called: then it answers 200 with the documented body
        response = case.call_and_validate(checks=CHECKS)
        assert response.status_code == 200, (operation.path, response.text)
        called.append(operation.path)
    assert len(called) == 23, called
