"""GPU-name normalisation: table-driven, plus every label in the shared SkyPilot catalog."""

from __future__ import annotations

import ast
import csv
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from marketplace.gpu_names import (
    GpuSpec,
    interconnect_from_label,
    load_catalog,
    memory_from_label,
    normalize_label,
    resolve,
)

SHARED_CATALOG = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "skypilot-catalog-v8"
)

# Labels in the shared files that are genuinely not in the canonical list. Empty today: the
# list was extended with the older GPUs the catalog sells (A800, K80, M60...).
KNOWN_UNKNOWN_LABELS: set[str] = set()


@pytest.mark.parametrize(
    "label, name",
    [
        ("H100", "H100"),
        ("H100-SXM", "H100"),
        ("H100-80G-SXM5", "H100"),
        ("NVIDIA H100 80GB HBM3", "H100"),
        ("NVIDIA-H100-80GB-HBM3", "H100"),
        ("H100 SXM", "H100"),
        ("h100-sxm", "H100"),
        ("H100-80G-PCIe-NVLink", "H100"),
        ("H100-MEGA", "H100"),
        ("H100 NVL", "H100NVL"),
        ("H100-NVL", "H100NVL"),
        ("H200 NVL", "H200NVL"),
        ("RTX6000", "RTX6000"),
        ("RTX6000-Ada", "RTX6000Ada"),
        ("RTX-6000-Ada", "RTX6000Ada"),
        ("RTX 6000 Ada", "RTX6000Ada"),
        ("NVIDIA RTX 6000 Ada Generation", "RTX6000Ada"),
        ("RTXPRO6000", "RTXPRO6000"),
        ("RTX PRO 6000 96GB", "RTXPRO6000"),
        ("RTXPRO6000-WK", "RTXPRO6000"),
        ("NVIDIA RTX PRO 6000 Blackwell Server Edition", "RTXPRO6000"),
        ("RTXA5000", "A5000"),
        ("RTX A5000", "A5000"),
        ("RTX-A4000", "A4000"),
        ("nvidia-tesla-a100", "A100"),
        ("nvidia-a100-80gb", "A100"),
        ("nvidia-h100-mega-80gb", "H100"),
        ("nvidia-l4", "L4"),
        ("nvidia-tesla-t4", "T4"),
        ("nvidia-rtx-pro-6000", "RTXPRO6000"),
        ("8x H100 (80 GB SXM5)", "H100"),  # Lambda's description
        ("Tesla V100-SXM2-16GB", "V100"),
        ("A100 PCIE", "A100"),
        ("A100 SXM4", "A100"),
        ("A800PCIE", "A800"),
        ("Q RTX 8000", "RTX8000"),
        ("NVIDIA GeForce RTX 4070 Ti SUPER", "RTX4070TiSUPER"),
        ("RTX 3060 Ti", "RTX3060Ti"),
        ("AMD Instinct MI300X OAM", "MI300X"),
        ("gpu-h100-sxm", "H100"),  # Nebius platform id
        ("tpu-v5litepod-8", "v5litepod"),
        ("tpu-v6e", "v6e"),
        ("T4g", "T4"),
        ("HL-205", "Gaudi"),
        ("p100a", "p100a"),  # Tenstorrent, not NVIDIA's P100
        ("P100", "P100"),
    ],
)
def test_it_normalises_provider_labels(label, name):
    assert normalize_label(label) == name


@pytest.mark.parametrize("label", ["", "   ", "A100X", "Titan RTX", "MI300Z", "RTX 9999", "banana"])
def test_unknown_labels_return_none(label):
    assert normalize_label(label) is None
    assert resolve(label) is None
    assert resolve(label, 81920) is None


@pytest.mark.parametrize(
    "label, memory_mib, key",
    [
        ("A100", None, ("nvidia", "A100", 40)),  # default variant: the smallest
        ("A100-80GB", None, ("nvidia", "A100", 80)),  # memory in the label wins...
        ("A100-80GB", 40960, ("nvidia", "A100", 80)),  # ...over reported MiB
        ("A100", 81920, ("nvidia", "A100", 80)),
        ("H100", 81559, ("nvidia", "H100", 80)),  # within 7%
        ("H100", 95830, ("nvidia", "H100NVL", 94)),  # vast's "H100" with 94 GB is an NVL
        ("RTX4090", 49140, ("nvidia", "RTX4090", 24)),  # fits no variant: default
        ("V100-32GB", None, ("nvidia", "V100", 32)),
        ("V100", 16384, ("nvidia", "V100", 16)),
        ("L40S", 46068, ("nvidia", "L40S", 48)),
        ("B300", 275456, ("nvidia", "B300", 270)),
        ("RTX3060", 8192, ("nvidia", "RTX3060", 8)),
        ("nvidia-a100-80gb", None, ("nvidia", "A100", 80)),
        ("MI300X", None, ("amd", "MI300X", 192)),
        ("tpu-v6e-8", None, ("google", "v6e", 0)),
    ],
)
def test_it_resolves_the_memory_variant(label, memory_mib, key):
    assert resolve(label, memory_mib).key == key


@pytest.mark.parametrize(
    "label, memory_gb",
    [("A100-80GB", 80), ("H100-80G-SXM5", 80), ("8x H100 (80 GB SXM5)", 80), ("RTX PRO 6000 96GB", 96),
     ("nvidia-h200-141gb", 141), ("H100", None), ("A10G", None), ("g4-standard-48", None)],
)  # fmt: skip
def test_it_reads_memory_written_in_a_label(label, memory_gb):
    assert memory_from_label(label) == memory_gb


@pytest.mark.parametrize(
    "label, interconnect",
    [
        ("H100-SXM", "sxm"),
        ("A100-80G-PCIe", "pcie"),
        ("H100-80G-PCIe-NVLink", "nvlink"),
        ("L4", ""),
    ],
)
def test_it_reads_the_interconnect_from_a_label(label, interconnect):
    assert interconnect_from_label(label) == interconnect


def test_the_catalog_holds_the_seed_with_facts():
    catalog = load_catalog()
    by_key = {spec.key: spec for spec in catalog}

    assert len(catalog) == len(by_key) >= 95
    assert by_key[("nvidia", "H100", 80)] == GpuSpec(
        vendor="nvidia", name="H100", memory_gb=80, compute_capability="9.0", architecture="",
        superchip=False, bf16_tflops=Decimal("989"), aliases=by_key[("nvidia", "H100", 80)].aliases,
    )  # fmt: skip
    assert by_key[("nvidia", "GH200", 96)].superchip is True
    assert by_key[("amd", "MI300X", 192)].architecture == "CDNA3"
    assert by_key[("amd", "MI300X", 192)].bf16_tflops == Decimal("1307.4")
    assert by_key[("nvidia", "RTX4090", 24)].bf16_tflops is None
    assert {("nvidia", "A100", 40), ("nvidia", "A100", 80)} <= set(by_key)
    assert {spec.vendor for spec in catalog} == {"nvidia", "amd", "google", "intel", "tenstorrent"}


def test_every_catalog_name_and_alias_normalises_to_itself():
    for spec in load_catalog():
        assert normalize_label(spec.name) == spec.name
        for alias in spec.aliases:
            assert normalize_label(alias) == spec.name, alias


# -- every label in the shared SkyPilot files -----------------------------------------------


def _shared_labels() -> list[str]:
    if not SHARED_CATALOG.is_dir():
        return []
    labels: set[str] = set()
    for path in SHARED_CATALOG.glob("*/*.csv"):
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                labels.add(row.get("AcceleratorName", "").strip())
                labels.update(_gpu_info_names(row.get("GpuInfo") or ""))
    return sorted(labels - {""})


def _gpu_info_names(text: str) -> list[str]:
    if not text.strip():
        return []
    try:
        info = json.loads(text)
    except ValueError:
        info = ast.literal_eval(re.sub(r"\bnull\b", "None", text))
    return [gpu["Name"] for gpu in info.get("Gpus", []) if gpu.get("Name")]


@pytest.mark.skipif(not SHARED_CATALOG.is_dir(), reason="shared SkyPilot catalog not present")
@pytest.mark.parametrize("label", _shared_labels() or ["<none>"])
def test_every_label_in_the_shared_catalog_resolves_to_a_known_gpu(label):
    if label in KNOWN_UNKNOWN_LABELS:
        assert resolve(label) is None
    else:
        assert resolve(label) is not None, label
