"""`sort=`: numeric fields, `-` for descending, several keys, a stable tiebreak on id (in
the direction of the last key)."""

from __future__ import annotations

import pytest
from django.db.models import F

from marketplace.search import QueryError, parse_sort
from marketplace.search.sorting import ANNOTATIONS


@pytest.mark.parametrize(
    ("text", "order"),
    [
        ("", [("price_per_gpu_hour", False), ("id", False)]),
        (None, [("price_per_gpu_hour", False), ("id", False)]),
        ("  ", [("price_per_gpu_hour", False), ("id", False)]),
        ("price", [("price_per_hour", False), ("id", False)]),
        ("+price", [("price_per_hour", False), ("id", False)]),
        ("-price", [("price_per_hour", True), ("id", True)]),
        ("price,-gpus", [("price_per_hour", False), ("gpu_count", True), ("id", True)]),
        (" price , - gpus ", [("price_per_hour", False), ("gpu_count", True), ("id", True)]),
        ("price,", [("price_per_hour", False), ("id", False)]),
        ("dph_total", [("price_per_hour", False), ("id", False)]),
        ("num_gpus", [("gpu_count", False), ("id", False)]),
        ("gpu_price", [("price_per_gpu_hour", False), ("id", False)]),
        ("vram,ram,disk,vcpus", [
            ("gpu_memory_gb", False), ("memory_gb", False), ("disk_gb", False), ("vcpus", False),
            ("id", False),
        ]),
        ("available", [("available", False), ("id", False)]),
        # age ascending is newest first
        ("observed", [("observed_at", True), ("id", True)]),
        ("-observed", [("observed_at", False), ("id", False)]),
        # expressions and nullable columns sort through annotations
        ("-total_vram", [("sort_total_vram", True), ("id", True)]),
        ("-reliability", [("sort_reliability", True), ("id", True)]),
    ],
)  # fmt: skip
def test_it_parses_sort_keys(text, order):
    assert parse_sort(text).order == order


def test_it_asks_for_the_annotations_its_keys_need():
    sort = parse_sort("-total_vram,price,reliability")

    assert sort.annotations == {
        "sort_total_vram": F("gpu_count") * F("gpu_memory_gb"),
        "sort_reliability": ANNOTATIONS["reliability"][1],
    }


def test_plain_columns_need_no_annotation():
    assert parse_sort("price,-gpus").annotations == {}


def test_it_gives_order_by_arguments():
    assert parse_sort("price,-total_vram").order_by() == [
        "price_per_hour",
        "-sort_total_vram",
        "-id",
    ]


@pytest.mark.parametrize(
    ("text", "position", "hint"),
    [
        ("prize", 0, "Did you mean price?"),
        ("price,-gpuss", 7, "Did you mean gpus?"),
        ("region", 0, "Sortable: gpus, vram"),
        ("gpu", 0, "Sortable:"),
        ("price,,gpus", 6, "one comma"),
        (" ,price", 1, "one comma"),
        ("price,price", 6, ""),
        ("price,-dph", 7, ""),  # dph is price
        ("x" * 201, 200, ""),
    ],
)
def test_it_refuses_bad_keys(text, position, hint):
    with pytest.raises(QueryError) as raised:
        parse_sort(text)

    assert (raised.value.code, raised.value.position) == ("invalid_sort", position)
    assert hint in raised.value.hint


def test_it_refuses_too_many_keys():
    with pytest.raises(QueryError, match="More than 8 sort keys"):
        parse_sort("gpus,vram,total_vram,vcpus,ram,disk,price,gpu_price,available")
