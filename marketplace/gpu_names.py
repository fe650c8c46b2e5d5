"""The one place where a provider's GPU label becomes a canonical GPU.

Providers name the same silicon ten ways (`H100`, `H100-SXM`, `H100-80G-SXM5`,
`NVIDIA H100 80GB HBM3`...). `normalize_label` maps a label to a canonical *name* from
`data/gpus.csv`; `resolve` then picks the memory variant (A100 40 GB vs 80 GB), because
identity is (vendor, name, memory) as in gpuhunt. Pure Python: no Django, no database.
"""

from __future__ import annotations

import csv
import functools
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

CATALOG_PATH = Path(__file__).resolve().parent / "data" / "gpus.csv"

# gpuhunt's rule (correct_gpu_memory_gib): a reported size within 7% of a known size for
# that name is that size (81559 MiB is an 80 GB H100: drivers report less than the label).
MEMORY_SNAP_TOLERANCE = 0.07

# Words that say who made the part, not which part it is.
_VENDOR_WORDS = frozenset(
    {"nvidia", "tesla", "geforce", "quadro", "amd", "instinct", "radeon", "intel", "habana"}
)
# Words that say how the part is packaged or sold; the market compares the chip, and
# `interconnect_from_label` keeps the packaging separately. NVL (a distinct product) is not
# here, NVLink (a bridge) is.
_PACKAGING_WORDS = frozenset(
    {
        "pcie", "pci", "sxm", "sxm2", "sxm3", "sxm4", "sxm5", "sxm6",
        "hbm", "hbm2", "hbm2e", "hbm3", "hbm3e", "nvlink", "mega", "oam", "vf",
        "pc", "ac", "ws", "wk", "workstation", "server", "edition", "blackwell",
        "generation", "gpu", "tensor", "core",
    }
)  # fmt: skip
_GLUED_PACKAGING = re.compile(r"(pcie|sxm\d?|hbm\d?e?|nvlink)$")
_COUNT_PREFIX = re.compile(r"\d+x")
_MEMORY_TOKEN = re.compile(r"\d+(?:g|gb|gib)")
_MEMORY_UNITS = frozenset({"g", "gb", "gib"})
_RTX_A_SERIES = re.compile(r"rtxa(\d{4})")  # "RTX A5000" is sold as A5000
_MEMORY_IN_LABEL = re.compile(r"(?<![a-z0-9])(\d{1,4})\s?(?:gb|gib|g)(?![a-z0-9])", re.I)


@dataclass(frozen=True)
class GpuSpec:
    vendor: str
    name: str
    memory_gb: int  # per GPU
    compute_capability: str = ""  # NVIDIA only
    architecture: str = ""  # AMD only
    superchip: bool = False  # Grace superchip: ARM host CPU
    bf16_tflops: Decimal | None = None  # dense tensor rate, None when unknown
    aliases: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.vendor, self.name, self.memory_gb)


@functools.cache
def load_catalog() -> tuple[GpuSpec, ...]:
    """Every canonical GPU variant, in file order."""
    with CATALOG_PATH.open(newline="", encoding="utf-8") as handle:
        lines = (line for line in handle if not line.startswith("#"))
        return tuple(_spec_from_row(row) for row in csv.DictReader(lines))


def _spec_from_row(row: dict[str, str]) -> GpuSpec:
    tflops = row["bf16_tflops"].strip()
    return GpuSpec(
        vendor=row["vendor"].strip(),
        name=row["name"].strip(),
        memory_gb=int(row["memory_gb"]),
        compute_capability=row["compute_capability"].strip(),
        architecture=row["architecture"].strip(),
        superchip=row["superchip"].strip().lower() == "yes",
        bf16_tflops=Decimal(tflops) if tflops else None,
        aliases=tuple(a.strip() for a in row["aliases"].split("|") if a.strip()),
    )


@functools.cache
def _variants_by_name() -> dict[str, tuple[GpuSpec, ...]]:
    """Canonical name -> its variants, smallest memory first (the default variant)."""
    grouped: dict[str, list[GpuSpec]] = {}
    for spec in load_catalog():
        grouped.setdefault(spec.name, []).append(spec)
    return {
        name: tuple(sorted(specs, key=lambda s: s.memory_gb)) for name, specs in grouped.items()
    }


@functools.cache
def _name_index() -> dict[str, str]:
    """Compact spelling (of a name or an alias, raw and reduced) -> canonical name."""
    index: dict[str, str] = {}
    for spec in load_catalog():
        for spelling in (spec.name, *spec.aliases):
            for key in {_compact(spelling), _reduce(spelling)}:
                if index.setdefault(key, spec.name) != spec.name:
                    raise ValueError(f"{spelling!r} names both {index[key]} and {spec.name}")
    return index


def _compact(label: str) -> str:
    return re.sub(r"[^a-z0-9]", "", label.lower())


def _reduce(label: str) -> str:
    """Drop vendor words, packaging, memory and "8x" counts; keep what names the chip."""
    kept: list[str] = []
    for token in re.split(r"[^a-z0-9]+", label.lower()):
        if not token or token in _VENDOR_WORDS or token in _PACKAGING_WORDS:
            continue
        if _COUNT_PREFIX.fullmatch(token) or _MEMORY_TOKEN.fullmatch(token):
            continue
        if token in _MEMORY_UNITS and kept and kept[-1].isdigit():
            kept.pop()  # "80 GB" written with a space
            continue
        kept.append(token)
    if kept and kept[0] == "tpu":
        kept = kept[1:2]  # "tpu-v5litepod-8": the slice size is not part of the chip
    compact = "".join(kept)
    while (stripped := _GLUED_PACKAGING.sub("", compact)) != compact and stripped:
        compact = stripped  # "A800PCIE", "H100SXM"
    return _RTX_A_SERIES.sub(r"a\1", compact) if _RTX_A_SERIES.fullmatch(compact) else compact


def normalize_label(label: str) -> str | None:
    """Canonical GPU name (without memory) for a provider label, or None if unknown."""
    if not label or not label.strip():
        return None
    index = _name_index()
    return index.get(_compact(label)) or index.get(_reduce(label))


def memory_from_label(label: str) -> int | None:
    """Memory per GPU written in a label ("A100-80GB", "H100 (80 GB SXM5)"), in GB."""
    match = _MEMORY_IN_LABEL.search(label or "")
    return int(match.group(1)) if match else None


def resolve(label: str, memory_mib: int | None = None) -> GpuSpec | None:
    """The canonical GPU variant for a label and the per-GPU memory a provider reports.

    Memory written in the label wins; otherwise the reported MiB snaps to the nearest known
    size within 7%; otherwise the default (smallest) variant. A size that fits no variant of
    the name but fits its NVL sibling is that sibling (vast lists H100 NVL as "H100" 94 GB).
    """
    name = normalize_label(label)
    if name is None:
        return None
    variants = _variants_by_name()[name]
    for memory_gb in _memory_candidates(label, memory_mib):
        if spec := _snap(variants, memory_gb) or _snap_sibling(name, memory_gb):
            return spec
    return variants[0]


def _memory_candidates(label: str, memory_mib: int | None) -> list[float]:
    candidates: list[float] = []
    if (hint := memory_from_label(label)) is not None:
        candidates.append(float(hint))
    if memory_mib:
        candidates.append(memory_mib / 1024)
    return candidates


def _snap(variants: tuple[GpuSpec, ...], memory_gb: float) -> GpuSpec | None:
    sized = [s for s in variants if s.memory_gb > 0]
    if not sized:
        return None
    nearest = min(sized, key=lambda s: abs(s.memory_gb - memory_gb))
    if abs(nearest.memory_gb - memory_gb) / nearest.memory_gb <= MEMORY_SNAP_TOLERANCE:
        return nearest
    return None


def _snap_sibling(name: str, memory_gb: float) -> GpuSpec | None:
    sibling = _variants_by_name().get(f"{name}NVL")
    return _snap(sibling, memory_gb) if sibling else None


@functools.lru_cache(maxsize=4096)  # called for every catalog row; labels repeat
@functools.lru_cache(maxsize=4096)  # called for every offer of a sync; labels repeat
def interconnect_from_label(label: str) -> str:
    """ "sxm", "nvlink" or "pcie" when a label says how the GPU is attached, else ""."""
    lowered = (label or "").lower()
    for word, interconnect in (("sxm", "sxm"), ("nvlink", "nvlink"), ("pcie", "pcie")):
        if word in lowered:
            return interconnect
    return ""
