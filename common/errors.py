"""The one error that services and selectors raise: a stable code, a message, extra fields.

It knows nothing of HTTP. The API's exception handler (`common.api.errors`) and the pages'
middleware (`common.middleware`) map its code to a status; a program branches on the code.
"""

from __future__ import annotations


class DomainError(Exception):
    """A failure the caller can act on, e.g. `DomainError("capacity_unavailable", "...")`.

    `extra` fields travel into the error body beside code and message (`position`, `hint`,
    `errors`, ...), so they must be JSON-serialisable."""

    def __init__(self, code: str, message: str, **extra):
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra

    def __repr__(self) -> str:
        return f"DomainError({self.code!r}, {self.message!r})"
