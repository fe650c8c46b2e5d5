"""Pages show a DomainError the way the API does: its status, its message, never an empty page.
API views never reach that: DRF's exception handler (`common.api.errors`) answers them first.
A statement the database cancelled (WEB_STATEMENT_TIMEOUT_MS, `common.db`) is one too.

And the API's body limit, checked before anything parses a body.
"""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render

from common.api.errors import RETRY_AFTER_UNAVAILABLE_SECONDS, http_status
from common.db import query_timeout_error
from common.errors import DomainError

TITLES = {
    403: "Not allowed",
    404: "Not found",
    409: "Not possible now",
    410: "No longer valid",
    503: "Busy, try again",
}


class DomainErrorPageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        exception = query_timeout_error(exception) or exception
        if not isinstance(exception, DomainError) or request.path.startswith("/api/"):
            return None
        status = http_status(exception)
        context = {
            "title": TITLES.get(status, "Cannot do that"),
            "code": exception.code,
            "message": exception.message,
        }
        response = render(request, "error.html", context, status=status)
        if status == 503:
            response["Retry-After"] = str(RETRY_AFTER_UNAVAILABLE_SECONDS)
        return response


class ApiBodyLimitMiddleware:
    """Refuse an API request whose body is larger than API_MAX_BODY_BYTES before anything
    reads it: 413 in the error format. DRF parses the raw stream, which Django's
    DATA_UPLOAD_MAX_MEMORY_SIZE does not limit. Django reads no more than Content-Length
    (and nothing without it), so the header is the size to check."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/"):
            refused = self._refusal(request.META.get("CONTENT_LENGTH") or "0")
            if refused is not None:
                return refused
        return self.get_response(request)

    def _refusal(self, declared: str) -> JsonResponse | None:
        limit = settings.API_MAX_BODY_BYTES
        if not (declared.isascii() and declared.isdigit()):
            return _error(400, "invalid_content_length", "Content-Length must be a number.")
        if int(declared) > limit:
            return _error(
                413,
                "body_too_large",
                f"The request body is {int(declared)} bytes; at most {limit} are accepted.",
                limit=limit,
            )
        return None


def _error(status: int, code: str, message: str, **extra) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, **extra}}, status=status)
