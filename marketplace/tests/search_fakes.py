"""A small in-memory catalog for the search tests: ids are fixed so expected Q objects can
name them."""

from __future__ import annotations

from datetime import UTC, datetime

from marketplace.search import GpuRow, ProviderRow, SnapshotResolver

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)

H100_80, H100_NVL, A100_40, A100_80, RTX4090, RTX3090, MI300X, B200 = 1, 2, 3, 4, 5, 6, 7, 8
AWS, LAMBDA, LAMBDA_EU, RUNPOD = 10, 11, 12, 13

CATALOG = SnapshotResolver(
    gpus=[
        GpuRow(H100_80, "H100", "nvidia", "9.0"),
        GpuRow(H100_NVL, "H100NVL", "nvidia", "9.0"),
        GpuRow(A100_40, "A100", "nvidia", "8.0"),
        GpuRow(A100_80, "A100", "nvidia", "8.0"),
        GpuRow(RTX4090, "RTX4090", "nvidia", "8.9"),
        GpuRow(RTX3090, "RTX3090", "nvidia", "8.6"),
        GpuRow(MI300X, "MI300X", "amd", ""),
        GpuRow(B200, "B200", "nvidia", "10.0"),
    ],
    providers=[
        ProviderRow(AWS, "aws"),
        ProviderRow(LAMBDA, "lambda"),
        ProviderRow(LAMBDA_EU, "lambda-eu"),
        ProviderRow(RUNPOD, "runpod"),
    ],
)
