"""Pages show a DomainError the way the API does: its status, its message, never an empty page.

API views never reach this: DRF's exception handler (`common.api.errors`) answers them first.
"""

from __future__ import annotations

from django.shortcuts import render

from common.api.errors import http_status
from common.errors import DomainError

TITLES = {403: "Not allowed", 404: "Not found", 409: "Not possible now"}


class DomainErrorPageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, DomainError) or request.path.startswith("/api/"):
            return None
        status = http_status(exception)
        context = {
            "title": TITLES.get(status, "Cannot do that"),
            "code": exception.code,
            "message": exception.message,
        }
        return render(request, "error.html", context, status=status)
