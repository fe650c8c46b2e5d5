"""Generate a SkyPilot-format catalog folder (`<cloud>/vms.csv`) of any size for benchmarks.

The rows are the real GPU rows of ../shared/data/skypilot-catalog-v8 (each cloud's own
column order, its GpuInfo as written), repeated over numbered regions until the catalog
holds the number of offers asked for. A row with a SpotPrice is two offers.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

SHARED_CATALOG = Path(__file__).resolve().parent.parent.parent / "shared/data/skypilot-catalog-v8"
SPOT_SHARE = 0.3  # rows that also carry a SpotPrice (two offers)
SPOT_DISCOUNT = Decimal("0.45")
WRITTEN_COLUMNS = (
    "InstanceType", "AcceleratorName", "AcceleratorCount", "vCPUs", "MemoryGiB", "GpuInfo",
    "Price", "SpotPrice", "Region", "AvailabilityZone",
)  # fmt: skip


@dataclass(frozen=True)
class Template:
    row: dict[str, str]


def load_templates(catalog: Path = SHARED_CATALOG) -> dict[str, tuple[list[str], list[dict]]]:
    """cloud -> (header, GPU rows with an on-demand price), one row per (sku, region, zone)."""
    templates = {}
    for file in sorted(catalog.glob("*/vms.csv")):
        if file.parent.name == "common":
            continue
        with file.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            header = [c for c in reader.fieldnames or () if c in WRITTEN_COLUMNS]
            for column in ("SpotPrice", "GpuInfo"):
                if column not in header:
                    header.append(column)
            seen, rows = set(), []
            for row in reader:
                key = (row["InstanceType"], row["Region"], row.get("AvailabilityZone", ""))
                if not row["AcceleratorName"] or not _price(row.get("Price")) or key in seen:
                    continue
                if row["InstanceType"].upper().endswith("__SPOT"):
                    continue
                seen.add(key)
                rows.append(row)
        if rows:
            templates[file.parent.name] = (header, rows)
    return templates


def _price(text: str | None) -> Decimal | None:
    try:
        value = Decimal(text or "")
    except ArithmeticError:
        return None
    return value if value > 0 else None


def write_catalog(
    folder: Path, *, offers: int, change_every: int = 0, seed: int = 7, clouds: int = 20
) -> int:
    """Write about `offers` offers into `folder/<cloud>/vms.csv`; returns the exact count.

    `change_every=20` raises the price of every 20th row by 5% (a "5% changed" catalog);
    everything else is the same as with change_every=0, row for row.
    """
    templates = load_templates()
    names = sorted(templates)
    per_cloud = offers // clouds
    total = 0
    for index in range(clouds):
        base = names[index % len(names)]
        header, rows = templates[base]
        cloud = f"{base}-{index // len(names)}" if index >= len(names) else base
        want = per_cloud if index < clouds - 1 else offers - total
        total += _write_cloud(folder / cloud, header, rows, want, change_every, seed + index)
    return total


def _write_cloud(
    folder: Path, header: list[str], rows: list[dict], want: int, change_every: int, seed: int
) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    written = 0
    line = 0
    with (folder / "vms.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        while written < want:
            row = rows[line % len(rows)]
            copy = line // len(rows)
            price = _price(row["Price"]) * Decimal(str(round(rng.uniform(0.9, 1.1), 4)))
            if change_every and line % change_every == 0:
                price *= Decimal("1.05")
            spot = rng.random() < SPOT_SHARE and written + 2 <= want
            out = dict(row)
            out["Region"] = row["Region"] if copy == 0 else f"{row['Region']}-{copy}"
            out["Price"] = f"{price:.6f}"
            out["SpotPrice"] = f"{price * SPOT_DISCOUNT:.6f}" if spot else ""
            writer.writerow(out)
            written += 2 if spot else 1
            line += 1
    return written
