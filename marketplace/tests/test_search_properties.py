"""Properties over generated input: only QueryError ever escapes, and the normal form reads
back as the same tree."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketplace.search import (
    QueryError,
    compile_filter,
    compile_query,
    parse_query,
    parse_requirements,
    parse_sort,
    unparse,
)

from .search_fakes import CATALOG, NOW

# Fragments of the language, so that random text often gets deep into the parser rather
# than failing at the first character.
FRAGMENTS = [
    "gpu", "gpus", "num_gpus", "vram", "total_vram", "compute_cap", "price", "gpu_price",
    "observed", "region", "country", "status", "suspect", "provider", "pricing", "reliability",
    "=", "==", "!=", "<", "<=", ">", ">=", "in", "notin", "not", "and", "or", "gte", "nin",
    "(", ")", "[", "]", ",", '"', "'", " ", "  ", "_", "*", "?", "any", "true", "false",
    "4", "0.5", "-1", "80GB", "1TB", "3.5/h", "$2", "99%", "1h", "30m", "860", "9.0",
    "H100", "h100-sxm", "RTX_4090", "eu-*", "*west*", "US", "spot", "..", ":", "8", "A100,H100",
    "cpu=", "memory=", "disk=", "\x00", "\u0130", "٣", "\ud800",
]  # fmt: skip
language_like = st.lists(st.sampled_from(FRAGMENTS), max_size=25).map("".join)
any_text = st.text(max_size=300)

FUZZ = settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow], deadline=None)


def _only_query_errors(function, text):
    try:
        return function(text)
    except QueryError as error:
        assert 0 <= error.position <= max(len(text), 2000)
        return None


@FUZZ
@given(st.one_of(language_like, any_text))
def test_filters_raise_nothing_but_query_errors(text):
    _only_query_errors(lambda t: compile_filter(t, resolver=CATALOG, now=NOW), text)


@FUZZ
@given(st.one_of(language_like, any_text))
def test_sorts_raise_nothing_but_query_errors(text):
    _only_query_errors(parse_sort, text)


@FUZZ
@given(st.one_of(language_like, any_text))
def test_requirements_raise_nothing_but_query_errors(text):
    requirement = _only_query_errors(parse_requirements, text)
    if requirement is not None:
        requirement.to_q(CATALOG)


@FUZZ
@given(language_like)
def test_the_normal_form_reads_back_as_the_same_tree(text):
    try:
        tree = parse_query(text)
    except QueryError:
        return
    normal_form = unparse(tree)

    assert parse_query(normal_form) == tree
    assert unparse(parse_query(normal_form)) == normal_form


# --- well-formed queries built from the grammar ---------------------------------------

VALUES = {
    "gpus": ["4", "8", "0"],
    "vram": ["80GB", "24", "1.5TB", "512MiB"],
    "total_vram": ["640", "1TB"],
    "price": ["3.5/h", "$2", "0.25"],
    "reliability": ["0.99", "95%"],
    "observed": ["1h", "90m", "2d", "45s"],
    "compute_cap": ["8.6", "900", "10.0"],
    "gpu": ["H100", "h100-sxm", "RTX_4090", "A100", "RTX_40*"],
    "gpu_vendor": ["nvidia", "AMD"],
    "region": ["eu-*", "us-east-1", '"Texas, US"', "*west*"],
    "country": ["US", "de"],
    "pricing": ["spot", "on-demand"],
    "status": ["active", "withdrawn", "any"],
    "suspect": ["true", "False"],
    "provider": ["aws", "lambda*"],
}
ORDERING = ["<", "<=", ">", ">=", "=", "!="]
NUMERIC = {"gpus", "vram", "total_vram", "price", "reliability", "compute_cap"}


@st.composite
def terms(draw):
    field = draw(st.sampled_from(sorted(VALUES)))
    value = draw(st.sampled_from(VALUES[field]))
    if field == "observed":
        return f"{field}{draw(st.sampled_from(['<', '<=', '>', '>=']))}{value}"
    if field in NUMERIC:
        return f"{field}{draw(st.sampled_from(ORDERING))}{value}"
    if value == "any":
        return f"{field}=any"
    if field != "suspect" and draw(st.booleans()):
        listable = [item for item in VALUES[field] if item != "any"]
        items = draw(st.lists(st.sampled_from(listable), min_size=1, max_size=3))
        return f"{field} {draw(st.sampled_from(['in', 'notin']))} [{', '.join(items)}]"
    return f"{field}{draw(st.sampled_from(['=', '!=']))}{value}"


queries = st.recursive(
    terms(),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from([" ", " and ", " or "]), inner).map("".join),
        inner.map(lambda q: f"not ({q})"),
        inner.map(lambda q: f"({q})"),
    ),
    max_leaves=12,
)


@FUZZ
@given(queries)
def test_well_formed_queries_parse_compile_and_round_trip(query):
    tree = parse_query(query)
    normal_form = unparse(tree)

    assert parse_query(normal_form) == tree
    assert compile_query(parse_query(normal_form), resolver=CATALOG, now=NOW).q == (
        compile_query(tree, resolver=CATALOG, now=NOW).q
    )
