"""The API's exception handler: a DomainError's code picks the status, the body is the one
error format, and anything the handler does not know is left to Django (a logged 500)."""

from __future__ import annotations

import pytest

from common.api.errors import api_exception_handler
from common.errors import DomainError


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("capacity_unavailable", 409),
        ("not_found", 404),
        ("permission_denied", 403),
        ("no_organization", 403),
        ("invalid_limit", 400),
        ("a_code_nobody_mapped", 400),
    ],
)
def test_it_answers_a_domain_error_with_the_status_of_its_code(code, status):
    response = api_exception_handler(DomainError(code, "Said plainly."), {})
    assert response.status_code == status
    assert response.data == {"error": {"code": code, "message": "Said plainly."}}


def test_it_puts_extra_fields_beside_code_and_message():
    error = DomainError("invalid_query", "Unknown field.", position=3, hint="try gpu=")
    response = api_exception_handler(error, {})
    assert response.data == {
        "error": {
            "code": "invalid_query",
            "message": "Unknown field.",
            "position": 3,
            "hint": "try gpu=",
        }
    }


def test_it_leaves_an_unexpected_exception_to_django():
    assert api_exception_handler(ZeroDivisionError("bug"), {}) is None
