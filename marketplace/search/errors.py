"""The one error the search package raises for bad user input."""

from __future__ import annotations

from common.errors import DomainError

INVALID_QUERY = "invalid_query"
INVALID_SORT = "invalid_sort"
INVALID_GPU_SPEC = "invalid_gpu_spec"
QUERY_TOO_COSTLY = "query_too_costly"


class QueryError(DomainError, ValueError):
    """Bad filter, sort or requirement text; `position` is a 0-based index into that text.

    A DomainError: the API answers it as a 400 body with its position and hint, and
    `as_dict()` is the inner `error` object.
    """

    def __init__(self, message: str, *, position: int, hint: str = "", code: str = INVALID_QUERY):
        super().__init__(code, message, position=position, hint=hint)
        self.position = position
        self.hint = hint

    def __repr__(self) -> str:
        return f"QueryError({self.code!r}, {self.message!r}, position={self.position})"

    def as_dict(self) -> dict:
        body = {"code": self.code, "message": self.message, "position": self.position}
        if self.hint:
            body["hint"] = self.hint
        return body
