"""The one error the search package raises for bad user input."""

from __future__ import annotations

INVALID_QUERY = "invalid_query"
INVALID_SORT = "invalid_sort"
INVALID_GPU_SPEC = "invalid_gpu_spec"


class QueryError(ValueError):
    """Bad filter, sort or requirement text; `position` is a 0-based index into that text.

    The API turns it into a 400 body; `as_dict()` is the inner `error` object.
    """

    def __init__(self, message: str, *, position: int, hint: str = "", code: str = INVALID_QUERY):
        super().__init__(message)
        self.code = code
        self.message = message
        self.position = position
        self.hint = hint

    def __repr__(self) -> str:
        return f"QueryError({self.code!r}, {self.message!r}, position={self.position})"

    def as_dict(self) -> dict:
        body = {"code": self.code, "message": self.message, "position": self.position}
        if self.hint:
            body["hint"] = self.hint
        return body
