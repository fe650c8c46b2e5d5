"""The JSON parser every API view uses."""

from __future__ import annotations

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# No request body of ours nests more than a few levels; a limit far below Python's recursion
# limit keeps every later walk of the data (validation, json.dumps, the jsonb adapter) safe.
MAX_JSON_DEPTH = 64


class JsonParser(JSONParser):
    """DRF's JSON parser, refusing bodies nested deeper than MAX_JSON_DEPTH with a 400.

    Python's decoder recurses once per level: `[[[[...` a few thousand deep raised
    RecursionError, which DRF does not catch (a 500)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise _too_deep() from None
        if _nested_deeper_than(data, MAX_JSON_DEPTH):
            raise _too_deep()
        return data


def _too_deep() -> ParseError:
    return ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels.")


def _nested_deeper_than(value, limit: int) -> bool:
    # A loop, not recursion: the point is to never recurse as deep as the data does.
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False
