"""docs/filter-language.md stays true: its examples parse, its errors happen where it says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from marketplace.search import QueryError, compile_filter, parse_requirements, parse_sort

from .search_fakes import CATALOG, NOW

DOC = (Path(__file__).resolve().parents[2] / "docs" / "filter-language.md").read_text()


def _block_after(heading: str, index: int = 0) -> list[str]:
    section = DOC.split(heading, 1)[1]
    block = re.findall(r"```[a-z]*\n(.*?)```", section, re.DOTALL)[index]
    return [line for line in block.splitlines() if line.strip()]


def _example(line: str) -> str:
    """The example itself: the text before the explanation (two or more spaces)."""
    return re.split(r"\s{2,}", line.strip(), maxsplit=1)[0]


@pytest.mark.parametrize("line", _block_after("## Examples"))
def test_filter_examples_parse(line):
    compile_filter(_example(line), resolver=CATALOG, now=NOW)


@pytest.mark.parametrize("line", _block_after("# The offer filter language"))
def test_opening_examples_parse(line):
    compile_filter(line.split("#")[0].strip(), resolver=CATALOG, now=NOW)


@pytest.mark.parametrize("line", _block_after("## Errors"))
def test_filter_errors_happen_where_documented(line):
    query, position = re.match(r"(.+?)\s+position (\d+)", line).groups()

    with pytest.raises(QueryError) as raised:
        compile_filter(query, resolver=CATALOG, now=NOW)

    assert raised.value.position == int(position)


@pytest.mark.parametrize("line", _block_after("## Sorting"))
def test_sort_examples_parse(line):
    parse_sort(_example(line).removeprefix("sort="))


@pytest.mark.parametrize("line", _block_after("## Requirements: the short form"))
def test_requirement_examples_parse(line):
    parse_requirements(_example(line))


@pytest.mark.parametrize("line", _block_after("## Requirements: the short form", index=2))
def test_requirement_errors_happen_where_documented(line):
    text, position = re.match(r"(.+?)\s+position (\d+)", line).groups()

    with pytest.raises(QueryError) as raised:
        parse_requirements(text)

    assert raised.value.position == int(position)
