"""Keeps the GpuModel table in step with the canonical list in marketplace/data/gpus.csv."""

from __future__ import annotations

from marketplace.gpu_names import load_catalog
from marketplace.models import GpuModel


def gpu_catalog_sync() -> int:
    """Insert or update every canonical GPU; returns how many rows the catalog has."""
    specs = load_catalog()
    existing = {(g.vendor, g.name, g.memory_gb): g for g in GpuModel.objects.all()}
    to_create, to_update = [], []
    for spec in specs:
        fields = {
            "compute_capability": spec.compute_capability,
            "architecture": spec.architecture,
            "superchip": spec.superchip,
            "bf16_tflops": spec.bf16_tflops,
            "aliases": list(spec.aliases),
        }
        row = existing.get(spec.key)
        if row is None:
            to_create.append(
                GpuModel(vendor=spec.vendor, name=spec.name, memory_gb=spec.memory_gb, **fields)
            )
        elif any(getattr(row, k) != v for k, v in fields.items()):
            for key, value in fields.items():
                setattr(row, key, value)
            to_update.append(row)
    GpuModel.objects.bulk_create(to_create)
    if to_update:
        GpuModel.objects.bulk_update(to_update, list(fields))
    return len(specs)
