"""python -m bench serialize: how long an API page of offers takes to render, by three ways.

The catalog and the provider API render offers through `OfferOutput` (a FlatOutput, from
common.api.serializers). Measured beside it, in the same run on the same rows: the same fields
rendered by DRF's own Serializer machinery, and a dict built by hand (the floor: no
serializer at all). Rows are built in memory, so only rendering is timed, not the query.
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime
from decimal import Decimal

from bench.base import (
    BenchCommand,
    bench_database_url,
    cpu_probe_seconds,
    ensure_database,
    setup_django,
)


def add_arguments(parser) -> None:
    parser.add_argument("--rounds", type=int, default=200, help="timed renders of each page")


def run(args) -> int:
    url = bench_database_url()
    ensure_database(url)
    setup_django(url)
    from rest_framework import serializers

    from marketplace.api.catalog import OfferOutput

    plain = type("PlainOfferOutput", (serializers.Serializer,), dict(OfferOutput._declared_fields))
    print(f"GPU Market render benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"CPU probe (bench/base.py): {cpu_probe_seconds():.2f} s")
    print(f"\nmedian ms per page ({args.rounds} renders of each)")
    print(
        f"{'offers':>8}{'by hand':>10}{'DRF':>10}{'OfferOutput':>13}{'DRF/ours':>10}{'ours/hand':>11}"
    )
    for size in (50, 500):
        rows = _offers(size)
        assert OfferOutput(rows, many=True).data == plain(rows, many=True).data
        by_hand = _median(lambda rows=rows: [_by_hand(o) for o in rows], args.rounds)
        drf = _median(lambda rows=rows: plain(rows, many=True).data, args.rounds)
        ours = _median(lambda rows=rows: OfferOutput(rows, many=True).data, args.rounds)
        print(
            f"{size:>8}{by_hand:>10.3f}{drf:>10.3f}{ours:>13.3f}"
            f"{drf / ours:>9.1f}x{ours / by_hand:>10.1f}x"
        )
    return 0


COMMAND = BenchCommand(
    help="rendering a page of offers: OfferOutput vs DRF vs by hand",
    add_arguments=add_arguments,
    run=run,
)


def _median(render, rounds: int) -> float:
    render()  # warm-up
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        render()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def _offers(count: int) -> list:
    from marketplace.models import GpuModel, Offer, Provider

    provider = Provider(slug="bench-cloud", name="Bench Cloud")
    gpu = GpuModel(name="H100", vendor="NVIDIA", memory_gb=80)
    observed = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    return [
        Offer(
            id=index + 1,
            provider=provider,
            gpu=gpu if index % 10 else None,
            sku=f"gpu_{index}x",
            gpu_count=8,
            gpu_memory_gb=Decimal("80.00"),
            vcpus=Decimal("208.0"),
            memory_gb=Decimal("1800.00"),
            disk_gb=Decimal("2000.00"),
            region="us-east-1",
            zone="us-east-1a",
            country="US",
            continent="NA",
            pricing="on_demand",
            price_per_hour=Decimal("24.480000") + index,
            price_per_gpu_hour=Decimal("3.060000"),
            currency="USD",
            available=3,
            reliability=None if index % 3 else Decimal("0.9900"),
            interconnect="nvlink",
            observed_at=observed,
            status="active",
            suspect=False,
            suspect_reason="",
        )
        for index in range(count)
    ]


def _by_hand(offer) -> dict:
    """The floor: what a hand-written dict of the same fields costs."""
    gpu = offer.gpu
    return {
        "id": offer.pk,
        "provider": offer.provider.slug,
        "sku": offer.sku,
        "gpu": gpu.name if gpu else None,
        "gpu_vendor": gpu.vendor if gpu else None,
        "gpu_count": offer.gpu_count,
        "gpu_memory_gb": str(offer.gpu_memory_gb),
        "vcpus": str(offer.vcpus),
        "memory_gb": str(offer.memory_gb),
        "disk_gb": str(offer.disk_gb),
        "region": offer.region,
        "zone": offer.zone,
        "country": offer.country,
        "continent": offer.continent,
        "pricing": offer.pricing,
        "price_per_hour": str(offer.price_per_hour),
        "price_per_gpu_hour": str(offer.price_per_gpu_hour),
        "currency": offer.currency,
        "available": offer.available,
        "reliability": None if offer.reliability is None else str(offer.reliability),
        "interconnect": offer.interconnect,
        "observed_at": offer.observed_at.isoformat().replace("+00:00", "Z"),
        "status": offer.status,
        "suspect": offer.suspect,
        "suspect_reason": offer.suspect_reason,
    }
