"""The web's statement timeout: a request's SQL runs at most WEB_STATEMENT_TIMEOUT_MS.

One DATABASES entry serves web processes, Celery workers and management commands alike,
and a catalog sync or a period close may rightly run for minutes: the timeout is the web
processes' own. A process that serves only requests (config/wsgi.py, config/asgi.py) calls
`limit_web_connections()` as it starts, and every connection it opens then starts with the
timeout as a libpq startup option: no statement of its own per request. Anywhere else (the
test client, a command that serves a request in process) `StatementTimeoutMiddleware` sets
it on the connection for the length of a request, before the request's first statement (a
request that touches no table opens no connection), and resets it afterwards, since the
connection outlives the request (CONN_MAX_AGE): two more round trips per request.

When PostgreSQL cancels a statement, psycopg raises QueryCanceled, which Django wraps in
its OperationalError; `query_timeout_error` turns that into the DomainError the API and
the pages answer with 503.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection, connections
from django.db.utils import OperationalError
from psycopg import errors as pg_errors
from psycopg.pq import TransactionStatus

from common.errors import DomainError

QUERY_TIMEOUT = "query_timeout"
# The key of a DATABASES entry whose connections start with a statement timeout (set by
# limit_web_connections): the milliseconds.
STARTUP_TIMEOUT = "STARTUP_STATEMENT_TIMEOUT_MS"


def limit_web_connections() -> None:
    """Every connection this process opens from now on starts with statement_timeout =
    WEB_STATEMENT_TIMEOUT_MS. Only for a process that serves nothing but web requests, before
    its first connection: a Celery worker or a command must never call it."""
    milliseconds = settings.WEB_STATEMENT_TIMEOUT_MS
    if not milliseconds:
        return
    for alias in connections:
        entry = connections.settings[alias]
        options = entry.setdefault("OPTIONS", {})
        options["options"] = f"{options.get('options', '')} -c statement_timeout={milliseconds}"
        options["options"] = options["options"].strip()
        entry[STARTUP_TIMEOUT] = milliseconds
        connections[alias].close()  # one opened before now (system checks) would lack it


def query_timeout_error(exc: BaseException) -> DomainError | None:
    """The DomainError for a statement PostgreSQL cancelled, None for anything else."""
    if isinstance(exc, OperationalError) and isinstance(exc.__cause__, pg_errors.QueryCanceled):
        return DomainError(
            QUERY_TIMEOUT,
            "The database took too long to answer this request; try again shortly, "
            "or narrow the request (a tighter filter, a smaller page).",
        )
    return None


class _TimeoutOnFirstStatement:
    """A Django execute wrapper that sets the timeout just before the first statement."""

    def __init__(self, milliseconds: int):
        self.milliseconds = milliseconds
        self.applied = False

    def __call__(self, execute, sql, params, many, context):
        if not self.applied:
            self.applied = True
            # The raw connection, so that this statement does not pass through the wrappers.
            # Inside a transaction that is later rolled back, PostgreSQL undoes the SET: the
            # rest of that request then runs without a timeout (it fails open, never cancels
            # a statement it should not).
            database = context["connection"]
            with database.wrap_database_errors:
                database.connection.execute(f"SET statement_timeout = {int(self.milliseconds)}")
        return execute(sql, params, many, context)

    def reset(self) -> None:
        raw = connection.connection
        if not self.applied or raw is None or raw.closed:
            return
        # In a failed transaction no statement runs; its rollback undoes a SET made inside it.
        if raw.info.transaction_status is TransactionStatus.INERROR:
            return
        with connection.wrap_database_errors:
            raw.execute("RESET statement_timeout")


class StatementTimeoutMiddleware:
    """Every statement of a web request (API and pages) runs under WEB_STATEMENT_TIMEOUT_MS;
    0 turns the limit off. Celery tasks and commands never pass here, so they are unlimited.
    Where the connection already starts with that limit (`limit_web_connections`), there is
    nothing to do."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        milliseconds = settings.WEB_STATEMENT_TIMEOUT_MS
        if not milliseconds or connection.settings_dict.get(STARTUP_TIMEOUT) == milliseconds:
            return self.get_response(request)
        timeout = _TimeoutOnFirstStatement(milliseconds)
        with connection.execute_wrapper(timeout):
            try:
                return self.get_response(request)
            finally:
                timeout.reset()
