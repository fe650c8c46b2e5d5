"""Catalog matching: names, wildcards, vendors and compute capability, in memory."""

from __future__ import annotations

import pytest

from marketplace.search.catalog import parse_version, wildcard_match

from .search_fakes import (
    A100_40,
    A100_80,
    AWS,
    B200,
    CATALOG,
    H100_80,
    H100_NVL,
    LAMBDA,
    LAMBDA_EU,
    MI300X,
    RTX3090,
    RTX4090,
)


def test_names_match_case_insensitively():
    assert CATALOG.gpu_ids(names=["h100"]) == {H100_80}


def test_a_name_matches_every_memory_variant():
    assert CATALOG.gpu_ids(names=["A100"]) == {A100_40, A100_80}


def test_names_and_patterns_are_alternatives():
    assert CATALOG.gpu_ids(names=["A100"], patterns=["RTX*"]) == {
        A100_40,
        A100_80,
        RTX4090,
        RTX3090,
    }


def test_patterns_ignore_spaces_and_dashes():
    assert CATALOG.gpu_ids(patterns=["rtx 40*"]) == {RTX4090}
    assert CATALOG.gpu_ids(patterns=["H100-*"]) == {H100_80, H100_NVL}


def test_criteria_combine_with_and():
    assert CATALOG.gpu_ids(patterns=["*"], vendors=["amd"]) == {MI300X}
    assert CATALOG.gpu_ids(names=["H100"], vendors=["amd"]) == frozenset()


@pytest.mark.parametrize(
    ("bound", "ids"),
    [
        (("gte", (9, 0)), {H100_80, H100_NVL, B200}),
        (("gt", (9, 0)), {B200}),
        (("lt", (8, 6)), {A100_40, A100_80}),
        (("lte", (8, 6)), {A100_40, A100_80, RTX3090}),
        (("eq", (8, 9)), {RTX4090}),
    ],
)
def test_compute_capability_compares_as_versions(bound, ids):
    # 10.0 > 9.0, which a string comparison would get wrong; blank capability never matches.
    assert CATALOG.gpu_ids(compute_cap=bound) == ids


def test_providers_match_slugs_and_patterns():
    assert CATALOG.provider_ids(slugs=["AWS"]) == {AWS}
    assert CATALOG.provider_ids(patterns=["lambda*"]) == {LAMBDA, LAMBDA_EU}
    assert CATALOG.provider_ids(patterns=["*-eu"]) == {LAMBDA_EU}
    assert CATALOG.provider_ids(slugs=["nobody"]) == frozenset()


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("eu-*", "eu-west-1", True),
        ("eu-*", "us-east-1", False),
        ("*west*", "eu-west-1", True),
        ("*-1", "eu-west-1", True),
        ("*-1", "eu-west-2", False),
        ("e*w*1", "eu-west-1", True),
        ("a*a", "a", False),
        ("a*a", "aa", True),
        ("*", "", True),
        ("ab*ba", "aba", False),
        ("exact", "exact", True),
    ],
)
def test_wildcards(pattern, text, matches):
    assert wildcard_match(pattern.split("*"), text) is matches


def test_wildcard_matching_stays_fast_on_hostile_patterns():
    # A backtracking regex needs exponential time here; the matcher is linear.
    assert not wildcard_match(["", "a", "a", "a", "a", "b"], "a" * 5000)


@pytest.mark.parametrize(
    ("text", "version"),
    [("9.0", (9, 0)), ("10.0", (10, 0)), ("8", (8, 0)), ("", None), (None, None)],
)
def test_versions(text, version):
    assert parse_version(text) == version
