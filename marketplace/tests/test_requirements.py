"""The requirement short form (H100:8, A100,H100:80GB..:4..8, ...) and its compilation."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db.models import Q

from marketplace.search import QueryError, Requirement, compile_filter, parse_requirements

from .search_fakes import A100_40, A100_80, CATALOG, H100_80, MI300X

GB = Decimal

PARSED = [
    ("H100", Requirement(gpu_names=("H100",), count_min=1, count_max=1)),
    ("H100:8", Requirement(gpu_names=("H100",), count_min=8, count_max=8)),
    ("h100-sxm:8", Requirement(gpu_names=("H100",), count_min=8, count_max=8)),
    ("8:H100", Requirement(gpu_names=("H100",), count_min=8, count_max=8)),
    (
        "A100,H100:80GB..:4..8",
        Requirement(gpu_names=("A100", "H100"), gpu_memory_min_gb=GB(80), count_min=4, count_max=8),
    ),
    (
        "24GB..80GB:2..8",
        Requirement(gpu_memory_min_gb=GB(24), gpu_memory_max_gb=GB(80), count_min=2, count_max=8),
    ),
    (
        "amd:MI300X:8",
        Requirement(gpu_names=("MI300X",), gpu_vendor="amd", count_min=8, count_max=8),
    ),
    ("nvidia:2..", Requirement(gpu_vendor="nvidia", count_min=2, count_max=None)),
    ("8", Requirement(count_min=8, count_max=8)),
    ("..4", Requirement(count_min=1, count_max=4)),
    ("A100:40GB", Requirement(gpu_names=("A100",), gpu_memory_min_gb=GB(40), gpu_memory_max_gb=GB(40), count_min=1, count_max=1)),
    ("A100:..40GB", Requirement(gpu_names=("A100",), gpu_memory_max_gb=GB(40), count_min=1, count_max=1)),
    ("RTX_4090:2", Requirement(gpu_names=("RTX4090",), count_min=2, count_max=2)),
    ("A100,a100-80gb", Requirement(gpu_names=("A100",), count_min=1, count_max=1)),
    ("H100:1TB..", Requirement(gpu_names=("H100",), gpu_memory_min_gb=GB(1000), count_min=1, count_max=1)),
    (
        "H100:8 cpu=32.. memory=256GB.. disk=1TB..",
        Requirement(
            gpu_names=("H100",), count_min=8, count_max=8,
            cpu_min=GB(32), memory_min_gb=GB(256), disk_min_gb=GB(1000),
        ),
    ),
    # dstack's YAML spelling, with a space after the colon
    (
        "gpu: H100:2 cpu: 4..8 memory: 64GB..",
        Requirement(gpu_names=("H100",), count_min=2, count_max=2, cpu_min=GB(4), cpu_max=GB(8), memory_min_gb=GB(64)),
    ),
    ("cpu=16 ram=64", Requirement(cpu_min=GB(16), cpu_max=GB(16), memory_min_gb=GB(64), memory_max_gb=GB(64))),
    ("disk=..500GB", Requirement(disk_max_gb=GB(500))),
    ("disk=1.5TB..", Requirement(disk_min_gb=GB(1500))),
]  # fmt: skip


@pytest.mark.parametrize(("text", "requirement"), PARSED)
def test_it_parses(text, requirement):
    assert parse_requirements(text) == requirement


FILTERS = [
    ("H100:8", "gpu=H100 gpus=8"),
    ("A100,H100:80GB..:4..8", "gpu in [A100,H100] vram>=80 gpus>=4 gpus<=8"),
    ("24GB..80GB:2..8", "vram>=24 vram<=80 gpus>=2 gpus<=8"),
    ("amd:MI300X:8", "gpu=MI300X gpu_vendor=amd gpus=8"),
    ("H100 cpu=32.. memory=64GB.. disk=500GB..", "gpu=H100 gpus=1 vcpus>=32 ram>=64 disk>=500"),
]


@pytest.mark.parametrize(("text", "filter_text"), FILTERS)
def test_it_reads_as_a_filter(text, filter_text):
    assert parse_requirements(text).to_filter() == filter_text


@pytest.mark.parametrize(("text", "filter_text"), FILTERS)
def test_it_compiles_exactly_like_its_filter(text, filter_text):
    requirement = parse_requirements(text)

    assert requirement.to_q(CATALOG) == compile_filter(filter_text, resolver=CATALOG).q


def test_it_compiles_to_gpu_ids_and_column_ranges():
    q = parse_requirements("A100,H100:80GB..:4..8").to_q(CATALOG)

    assert q == (
        Q(gpu_id__in=[H100_80, A100_40, A100_80])
        & Q(gpu_memory_gb__gte=Decimal(80))
        & Q(gpu_count__gte=4)
        & Q(gpu_count__lte=8)
    )


def test_the_count_can_be_left_out_for_multi_offer_plans():
    requirement = parse_requirements("MI300X:192GB:8")

    assert requirement.to_q(CATALOG, include_count=False) == (
        Q(gpu_id__in=[MI300X]) & Q(gpu_memory_gb=Decimal(192))
    )
    assert (requirement.count_min, requirement.count_max) == (8, 8)


def test_a_requirement_without_a_gpu_spec_asks_for_no_gpu_count():
    assert parse_requirements("cpu=8..").to_filter() == "vcpus>=8"


ERRORS = [
    ("", 0, "Empty requirement", "H100:8"),
    ("   ", 0, "Empty requirement", ""),
    (":8", 0, "Empty part", "write just the count: 8"),
    ("H100:", 5, "Empty part", ""),
    ("H100::8", 5, "Empty part", ""),
    ("H1000:8", 0, "Unknown GPU 'H1000'", "Did you mean H100?"),
    ("A100,H1000:8", 5, "Unknown GPU 'H1000'", ""),
    ("A100,,H100", 5, "Empty GPU name", ""),
    ("H100:8:4", 7, "Two count parts", ""),
    ("H100:A100", 5, "Two name parts", ""),
    ("H100:80GB:40GB", 10, "Two memory parts", ""),
    ("nvidia:amd:8", 7, "Two vendor parts", ""),
    ("H100:8..4", 5, "runs backwards", "smaller bound first"),
    ("H100:80GB..40GB", 5, "runs backwards", ""),
    ("H100:0", 5, "GPU counts run from 1", ""),
    ("H100:99999", 5, "GPU counts run from 1", ""),
    ("H100:1..2..3", 5, "Expected a range", ""),
    ("cpu=", 4, "Expected a value after cpu=", ""),
    ("cpu=lots", 4, "Expected a number", ""),
    ("cpu=8GB", 5, "Expected a plain number, got unit 'GB'", ""),
    ("cpu=-8..", 4, "negative", ""),
    ("cpu=..", 4, "at least one bound", ""),
    ("memory=64XB..", 9, "Expected a size", "GB"),
    ("disk=500GB.. disk=1TB..", 13, "disk is given twice", ""),
    ("H100:8 A100:4", 7, "gpu is given twice", ""),
    ("H100:1.5", 5, "whole numbers", ""),
    ("H100:2..x", 5, "Unknown GPU", ""),
    ("x" * 501, 500, "Longer than 500", ""),
]


@pytest.mark.parametrize(("text", "position", "message", "hint"), ERRORS)
def test_it_points_at_the_mistake(text, position, message, hint):
    with pytest.raises(QueryError) as raised:
        parse_requirements(text)

    error = raised.value
    assert (error.code, error.position) == ("invalid_gpu_spec", position)
    assert message in error.message
    assert hint in error.hint
