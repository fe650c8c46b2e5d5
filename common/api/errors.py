"""The one error format of the API: {"error": {"code", "message", ...}}.

Services and selectors raise `common.errors.DomainError`; this module is the one place that
turns its code into an HTTP status. DRF's and Django's own exceptions (authentication,
validation, 404) are rendered in the same shape.
"""

from __future__ import annotations

import math

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.views.defaults import page_not_found as html_page_not_found
from django.views.defaults import server_error as html_server_error
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler, set_rollback

from common.db import query_timeout_error
from common.errors import DomainError

# Codes that are not 400. A code missing here is a 400: the caller sent something wrong.
STATUS_BY_CODE = {
    "not_authenticated": 401,
    "authentication_failed": 401,
    "insufficient_funds": 402,
    "account_past_due": 402,
    "card_declined": 402,
    "payment_method_required": 409,
    "invoice_not_payable": 409,
    "stripe_unavailable": 503,
    "query_timeout": 503,
    "permission_denied": 403,
    "no_organization": 403,
    "no_provider": 403,
    "not_found": 404,
    "budget_exceeded": 409,
    "capacity_unavailable": 409,
    "conflict": 409,
    "credit_exceeds_invoice": 409,
    "event_id_conflict": 409,
    "idempotency_conflict": 409,
    "invalid_state": 409,
    "invalid_transition": 409,
    "invoice_not_creditable": 409,
    "invoice_not_draft": 409,
    "price_changed": 409,
    "invoice_not_finalised": 409,
    "invoice_not_voidable": 409,
    "not_launchable": 409,
    "offer_exists": 409,
    "price_above_limit": 409,
    "quote_expired": 409,
    "slug_taken": 409,
    "invitation_gone": 410,
}


# What a 503 tells the client to wait: a dependency (Stripe) failed or could not be reached,
# or the database cancelled a statement that ran past WEB_STATEMENT_TIMEOUT_MS.
RETRY_AFTER_UNAVAILABLE_SECONDS = 30


def http_status(error: DomainError) -> int:
    return STATUS_BY_CODE.get(error.code, 400)


_CODES_BY_EXCEPTION = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
    exceptions.ParseError: "malformed_request",
}


def error_body(code: str, message: str, **extra) -> dict:
    return {"error": {"code": code, "message": message, **extra}}


def _first_message(detail) -> str:
    if isinstance(detail, dict):
        field, value = next(iter(detail.items()))
        text = _first_message(value)
        return text if field in ("non_field_errors", "__all__") else f"{field}: {text}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def _validation_body(detail) -> dict:
    fields = detail if isinstance(detail, dict) else {"non_field_errors": detail}
    return error_body("validation_error", _first_message(detail), fields=fields)


def _normalise(exc):
    """Map Django's exceptions to DRF's, so that one code path renders them."""
    if isinstance(exc, Http404 | ObjectDoesNotExist):
        return exceptions.NotFound("Not found.")
    if isinstance(exc, PermissionDenied):
        return exceptions.PermissionDenied()
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        return exceptions.ValidationError(detail)
    return exc


def api_exception_handler(exc, context):
    exc = query_timeout_error(exc) or exc
    if isinstance(exc, DomainError):
        set_rollback()  # as DRF does for its own exceptions
        body = error_body(exc.code, exc.message, **exc.extra)
        response = Response(body, status=http_status(exc))
        if response.status_code == 503:
            response["Retry-After"] = str(RETRY_AFTER_UNAVAILABLE_SECONDS)
        return response
    exc = _normalise(exc)
    response = exception_handler(exc, context)
    if response is None:
        return None  # a real bug: let Django log it and answer 500
    if isinstance(exc, exceptions.ValidationError):
        response.data = _validation_body(exc.detail)
    elif isinstance(exc, exceptions.Throttled):
        response.data = throttled_body(exc.wait)
        response["Retry-After"] = str(response.data["error"]["retry_after"])
    else:
        code = _CODES_BY_EXCEPTION.get(type(exc), getattr(exc, "default_code", "error"))
        response.data = error_body(code, _first_message(exc.detail))
    return response


def throttled_body(wait: float | None) -> dict:
    """429's body: `retry_after` is the whole seconds of the Retry-After header."""
    seconds = max(1, math.ceil(wait or 1))
    message = f"Too many requests; try again in {seconds} second{'s' if seconds != 1 else ''}."
    return error_body("throttled", message, retry_after=seconds)


def json_error_response(code: str, message: str, status_code: int) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status_code)


def page_not_found(request, exception=None):
    """JSON for API paths, the normal page elsewhere."""
    if request.path.startswith("/api/"):
        return json_error_response("not_found", "No such endpoint.", 404)
    return html_page_not_found(request, exception)


def server_error(request):
    if request.path.startswith("/api/"):
        return json_error_response(
            "server_error", "Something went wrong on our side; it has been logged.", 500
        )
    return html_server_error(request)
