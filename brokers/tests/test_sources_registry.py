"""The sources package: every pricing source, by name, constructible with no arguments."""

from __future__ import annotations

import inspect

from brokers.sources import SOURCES
from brokers.sources.base import PricingSource


def test_it_names_every_source_once():
    assert sorted(SOURCES) == [
        "aws",
        "azure",
        "gpuhunt-catalog",
        "lambda",
        "runpod",
        "skypilot-catalog",
        "vast",
    ]
    assert all(name == source.name for name, source in SOURCES.items())


def test_every_source_builds_without_arguments_and_streams():
    for source_class in SOURCES.values():
        source = source_class()
        assert isinstance(source, PricingSource)
        assert inspect.isgeneratorfunction(type(source).fetch)
        assert source.provider_slug and source.freshness_limit_seconds > 0
