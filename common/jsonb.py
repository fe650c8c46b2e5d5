"""What PostgreSQL's jsonb cannot hold, in one place: the NUL character and lone UTF-16
surrogates (JSON may escape half a pair, "\\ud800"; Python keeps it as a code point of its
own). Saving either fails the statement, and with it a request or a whole batch."""

from __future__ import annotations

import re

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def jsonb_storable(value) -> bool:
    """False if a string inside `value`, key or value, holds a character jsonb refuses."""
    if isinstance(value, str):
        return not UNSTORABLE.search(value)
    if isinstance(value, dict):
        return all(jsonb_storable(k) and jsonb_storable(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(jsonb_storable(item) for item in value)
    return True


def without_unstorable(value):
    """`value` with the characters jsonb refuses dropped from every string inside."""
    if isinstance(value, str):
        return UNSTORABLE.sub("", value)
    if isinstance(value, dict):
        return {without_unstorable(k): without_unstorable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [without_unstorable(item) for item in value]
    return value
