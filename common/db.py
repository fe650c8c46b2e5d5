"""The web's statement timeout: a request's SQL runs at most WEB_STATEMENT_TIMEOUT_MS.

One DATABASES entry serves web processes, Celery workers and management commands alike, so
the timeout cannot be a connection option: a catalog sync or a period close may rightly run
for minutes. Instead `StatementTimeoutMiddleware` sets it on the connection for the length
of a request, before the request's first statement (a request that touches no table opens
no connection), and resets it afterwards, since the connection outlives the request
(CONN_MAX_AGE).

When PostgreSQL cancels a statement, psycopg raises QueryCanceled, which Django wraps in
its OperationalError; `query_timeout_error` turns that into the DomainError the API and
the pages answer with 503.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.db.utils import OperationalError
from psycopg import errors as pg_errors
from psycopg.pq import TransactionStatus

from common.errors import DomainError

QUERY_TIMEOUT = "query_timeout"


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
    0 turns the limit off. Celery tasks and commands never pass here, so they are unlimited."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        milliseconds = settings.WEB_STATEMENT_TIMEOUT_MS
        if not milliseconds:
            return self.get_response(request)
        timeout = _TimeoutOnFirstStatement(milliseconds)
        with connection.execute_wrapper(timeout):
            try:
                return self.get_response(request)
            finally:
                timeout.reset()
