"""The one error format of the API: {"error": {"code", "message", ...}}.

Codes are stable strings a program can branch on. Services raise `ApiError` subclasses
(or Django's ValidationError / ObjectDoesNotExist), and this handler turns every 4xx into
the same shape.
"""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status


class ApiError(exceptions.APIException):
    """A business error with a stable code, e.g. 409 capacity_unavailable."""

    status_code = status.HTTP_400_BAD_REQUEST

    def __init__(self, code: str, message: str, *, status_code: int | None = None, **extra):
        super().__init__(detail=message, code=code)
        self.code = code
        self.message = message
        self.extra = extra
        if status_code is not None:
            self.status_code = status_code


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
    # Imported here: rest_framework.views loads the authentication classes, which import
    # our services, which import this module.
    from rest_framework.views import exception_handler

    exc = _normalise(exc)
    response = exception_handler(exc, context)
    if response is None:
        return None  # a real bug: let Django log it and answer 500
    if isinstance(exc, ApiError):
        response.data = error_body(exc.code, exc.message, **exc.extra)
    elif isinstance(exc, exceptions.ValidationError):
        response.data = _validation_body(exc.detail)
    else:
        code = _CODES_BY_EXCEPTION.get(type(exc), getattr(exc, "default_code", "error"))
        response.data = error_body(code, _first_message(exc.detail))
    return response


def json_error_response(code: str, message: str, status_code: int) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status_code)


def page_not_found(request, exception=None):
    """JSON for API paths, the normal page elsewhere."""
    if request.path.startswith("/api/"):
        return json_error_response("not_found", "No such endpoint.", 404)
    from django.views.defaults import page_not_found as html_page_not_found

    return html_page_not_found(request, exception)


def server_error(request):
    if request.path.startswith("/api/"):
        return json_error_response(
            "server_error", "Something went wrong on our side; it has been logged.", 500
        )
    from django.views.defaults import server_error as html_server_error

    return html_server_error(request)
