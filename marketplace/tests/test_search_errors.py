"""Bad filter text: a QueryError with code invalid_query, the position of the mistake and a
hint that says how to fix it."""

from __future__ import annotations

import pytest

from marketplace.search import QueryError, compile_filter, parse_query
from marketplace.search.parser import MAX_DEPTH, MAX_LENGTH, MAX_LIST_ITEMS, MAX_TERMS

from .search_fakes import CATALOG, NOW

# (query, position, words in the message, words in the hint)
ERRORS = [
    # unknown fields, with the closest name
    ("prise<3", 0, "Unknown field 'prise'", "Did you mean price?"),
    ("gpus>=4 prise<3", 8, "Unknown field", "Did you mean price?"),
    ("gpu_nme=H100", 0, "Unknown field", "Did you mean gpu?"),
    ("num_gpu>=4", 0, "Unknown field", "Did you mean gpus?"),
    ("regoin=eu-west-1", 0, "Unknown field", "Did you mean region?"),
    ("verified=true", 0, "Unknown field", "Vast.ai field with no equivalent"),
    ("xyzzy=1", 0, "Unknown field", "Fields: gpu, gpu_vendor"),
    ("H100 gpus>=8", 0, "Unknown field 'H100'", "write gpu=H100"),
    # operators
    ("region>eu", 6, "does not apply to region", "= != in notin"),
    ("suspect>true", 7, "does not apply to suspect", "= !="),
    ("observed=1h", 8, "does not apply to observed", "< <= > >="),
    ("gpus", 4, "Expected an operator after 'gpus'", "Operators:"),
    ("gpus 4", 5, "Expected an operator", "Operators:"),
    ("gpus=>4", 5, "Expected a value after '='", "Did you mean >=?"),
    ("gpus ! 4", 5, "lone '!'", "Use != or the word not"),
    ("gpus>[4,8]", 4, "A list needs in or notin", "gpus in [4,8]"),
    ("gpus>any", 4, "only goes with =", "gpus=any"),
    # values and units
    ("gpus>=", 6, "Expected a value after '>='", ""),
    ("gpus>=four", 6, "Expected a number", ""),
    ("gpus>=4.5", 6, "whole number", ""),
    ("vram>=80XB", 8, "Expected a size, got unit 'XB'", "GB"),
    ("price<=3.5/day", 10, "Expected a price per hour", "per hour"),
    ("price<=3.5EUR", 10, "Expected a price per hour", ""),
    ("observed<1", 10, "Expected a duration, got a number without a unit", "s, m, h or d"),
    ("observed<1y", 10, "Expected a duration", "s, m, h or d"),
    ("observed<-1h", 9, "out of range", ""),
    ("observed<99999d", 9, "out of range", "10 years"),
    ("reliability>95", 12, "out of range", "99%"),
    ("reliability>-0.1", 12, "out of range", ""),
    ("price<-1", 6, "out of range", ""),
    ("gpus>1234567890123", 5, "too long", "digits"),
    ("price<0.0000001", 6, "too long", ""),
    ("compute_cap>=ampere", 13, "compute capability", "8.6"),
    ("suspect=maybe", 8, "Expected true or false", ""),
    ("pricing=spott", 8, "not one of on_demand, spot, reserved", "Did you mean spot?"),
    ("status=gone", 7, "not one of", "Valid: active, stale, withdrawn"),
    ("gpu_vendor=nvidea", 11, "not one of", "Did you mean nvidia?"),
    ("country=Germany", 8, "not a valid value", "two-letter"),
    ("currency=dollars", 9, "not a valid value", "ISO 4217"),
    ("gpu=H1000", 4, "Unknown GPU 'H1000'", "Did you mean H100?"),
    ("gpu in [H100, Z9]", 14, "Unknown GPU 'Z9'", "/api/v1/gpus/"),
    ('region=""', 7, "Empty value", ""),
    ("region=" + "a" * 201, 7, "longer than 200", ""),
    ("region=*a*b*c*d*e", 7, "More than 4 wildcards", ""),
    # lists
    ("gpu in [H100", 7, "Unclosed '['", "Close the list"),
    ("gpu in [H100 A100", 7, "Unclosed '['", ""),
    ("gpu in []", 7, "Empty list", ""),
    ("gpu in [H100,,A100]", 13, "Expected a value, ',' or ']'", ""),
    ("gpu in [H100 (", 13, "Expected a value, ',' or ']'", ""),
    ("gpus in [1,2] ]", 14, "Unexpected ']'", ""),
    # brackets and keywords
    ("(gpus>4", 0, "Unbalanced '('", "opened at position 0"),
    ("(gpus>4 ]", 8, "Unbalanced '('", ""),
    ("gpus>4)", 6, "Unbalanced ')'", "Remove it"),
    (")", 0, "Unbalanced ')'", ""),
    ("()", 0, "Empty brackets", ""),
    ("gpus>4 and", 10, "Expected a field name, found the end", ""),
    ("gpus>4 or", 9, "Expected a field name", ""),
    ("or gpus>4", 0, "Expected a field name, found 'or'", ""),
    ("not", 3, "Expected a field name", ""),
    ('"gpus">4', 0, "Expected a field name", ""),
    # characters
    ('region="eu', 7, "Unterminated quote", 'Close the value with "'),
    ("region='eu", 7, "Unterminated quote", "'"),
    ("gpus>4\x00", 6, "control character", ""),
    ("region=a\x1bb", 8, "control character", ""),
]


@pytest.mark.parametrize(("query", "position", "message", "hint"), ERRORS)
def test_it_points_at_the_mistake(query, position, message, hint):
    with pytest.raises(QueryError) as raised:
        compile_filter(query, resolver=CATALOG, now=NOW)

    error = raised.value
    assert (error.code, error.position) == ("invalid_query", position)
    assert message in error.message
    assert hint in error.hint


def test_the_error_renders_as_the_api_body():
    with pytest.raises(QueryError) as raised:
        parse_query("gpus>=4 prise<3")

    assert raised.value.as_dict() == {
        "code": "invalid_query",
        "message": "Unknown field 'prise'.",
        "position": 8,
        "hint": "Did you mean price?",
    }


def test_the_body_has_no_hint_when_there_is_none():
    with pytest.raises(QueryError) as raised:
        parse_query("gpus>=4.5")

    assert "hint" not in raised.value.as_dict()


def test_it_refuses_queries_over_the_length_limit():
    query = "gpus>=4 " * (MAX_LENGTH // 8) + "x"

    with pytest.raises(QueryError) as raised:
        parse_query(query)

    assert raised.value.position == MAX_LENGTH


def test_it_refuses_too_many_terms():
    query = " ".join(f"gpus>{n}" for n in range(MAX_TERMS + 1))

    with pytest.raises(QueryError, match="More than 100 terms") as raised:
        parse_query(query)

    assert raised.value.position == query.rindex("gpus")


def test_it_accepts_the_most_terms_allowed():
    parse_query(" ".join(f"gpus>{n}" for n in range(MAX_TERMS)))


def test_it_refuses_deep_nesting():
    query = "(" * (MAX_DEPTH + 1) + "gpus>4" + ")" * (MAX_DEPTH + 1)

    with pytest.raises(QueryError, match="Nested deeper") as raised:
        parse_query(query)

    assert raised.value.position == MAX_DEPTH


def test_nots_count_towards_nesting():
    with pytest.raises(QueryError, match="Nested deeper"):
        parse_query("not " * (MAX_DEPTH + 1) + "gpus>4")


def test_it_accepts_the_deepest_nesting_allowed():
    parse_query("(" * MAX_DEPTH + "gpus>4" + ")" * MAX_DEPTH)


def test_it_refuses_long_lists():
    items = ",".join(str(n) for n in range(MAX_LIST_ITEMS + 1))

    with pytest.raises(QueryError, match="More than 100 values"):
        parse_query(f"gpus in [{items}]")
