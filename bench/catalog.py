"""A synthetic catalog with a realistic spread, written with COPY: 30 providers, 200 regions,
every canonical GPU (popular ones far more often), 3 pricing models, a few stale, withdrawn,
sold-out and suspect offers. Deterministic for a seed."""

from __future__ import annotations

import random
import time
from datetime import timedelta
from decimal import Decimal

PROVIDERS = [
    # slug, share of the catalog, reservable here (the hyperscalers are listed for comparison)
    ("vast", 9, True), ("runpod", 7, True), ("lambda", 5, True), ("coreweave", 5, True),
    ("nebius", 4, True), ("aws", 6, False), ("gcp", 5, False), ("azure", 5, False),
    ("oci", 3, False), ("paperspace", 2, True), ("fluidstack", 3, True), ("crusoe", 3, True),
    ("tensordock", 3, True), ("datacrunch", 3, True), ("jarvislabs", 1, True),
    ("hyperstack", 2, True), ("voltage-park", 2, True), ("together", 2, True),
    ("lepton", 1, True), ("latitude", 1, True), ("genesis", 2, True), ("massed-compute", 1, True),
    ("cudo", 2, True), ("vultr", 2, True), ("scaleway", 1, True), ("ovh", 2, True),
    ("hetzner", 1, True), ("sesterce", 1, True), ("denvr", 1, True), ("shadeform", 2, True),
]  # fmt: skip
# Relative popularity of GPUs in listings; anything not named weighs 0.5.
GPU_WEIGHTS = {
    ("H100", 80): 14, ("A100", 80): 9, ("A100", 40): 4, ("H200", 141): 5, ("L4", 24): 6,
    ("L40S", 48): 5, ("RTX4090", 24): 11, ("RTX3090", 24): 7, ("A10G", 24): 4, ("A10", 24): 3,
    ("T4", 16): 5, ("V100", 16): 2, ("V100", 32): 2, ("A6000", 48): 4, ("RTX6000Ada", 48): 3,
    ("MI300X", 192): 3, ("B200", 180): 2, ("GH200", 96): 1.5, ("L40", 48): 2, ("RTX5090", 32): 3,
    ("A40", 48): 2, ("RTX3080", 10): 2, ("RTX4080", 16): 2, ("H100NVL", 94): 1.5,
    ("A4000", 16): 1.5, ("A5000", 24): 1.5, ("RTX3060", 12): 1,
}  # fmt: skip
BIG_GPUS = {"H100", "H200", "B200", "A100", "MI300X", "GB200", "H100NVL", "MI325X", "A800"}
EXTRA_REGIONS = [
    "us-texas-1", "us-texas-2", "us-dallas-1", "us-chicago-1", "us-atlanta-1", "us-newyork-1",
    "us-seattle-1", "us-phoenix-1", "us-denver-1", "us-miami-1", "ca-montreal-1",
    "ca-toronto-1", "de-frankfurt-1", "de-berlin-1", "nl-amsterdam-1", "fr-paris-1",
    "gb-london-1", "se-stockholm-1", "fi-helsinki-1", "no-oslo-1", "is-reykjavik-1",
    "pl-warsaw-1", "es-madrid-1", "it-milan-1", "ch-zurich-1", "at-vienna-1", "cz-prague-1",
    "ro-bucharest-1", "jp-tokyo-1", "kr-seoul-1", "sg-singapore-1", "in-mumbai-1",
    "au-sydney-1", "nz-auckland-1", "br-saopaulo-1", "cl-santiago-1", "za-johannesburg-1",
    "ae-dubai-1", "il-telaviv-1", "tw-taipei-1", "hk-hongkong-1",
]  # fmt: skip
COLUMNS = (
    "provider_id", "sku", "gpu_id", "gpu_count", "gpu_memory_gb", "vcpus", "memory_gb",
    "disk_gb", "region", "zone", "country", "continent", "pricing", "price_per_hour",
    "price_per_gpu_hour", "currency", "available", "reliability", "interconnect",
    "observed_at", "status", "suspect", "suspect_reason", "extra", "created_at", "updated_at",
)  # fmt: skip
SIX = Decimal("0.000001")


def regions() -> list[tuple[str, str, str]]:
    """200 (region, country, continent): real cloud region names and a few data centres."""
    from marketplace.locations import _REGION_COUNTRY, locate

    names = list(_REGION_COUNTRY)[: 200 - len(EXTRA_REGIONS)] + EXTRA_REGIONS
    return [(name, *locate(name)) for name in names]


def create_providers(rng: random.Random) -> list:
    from marketplace.models import Provider, ProviderKind

    Provider.objects.all().delete()
    return Provider.objects.bulk_create(
        [
            Provider(
                name=slug.replace("-", " ").title(),
                slug=slug,
                kind=ProviderKind.SIMULATED if reservable else ProviderKind.CLOUD,
                launcher="simulated" if reservable else "",
                disk_price_per_gb_month=Decimal(rng.choice(["0.05", "0.08", "0.10", "0.15"])),
                egress_price_per_gb=Decimal(rng.choice(["0", "0.01", "0.05", "0.09"])),
                boot_seconds=rng.choice([30, 60, 120, 180, 300, 600]),
            )
            for slug, _, reservable in PROVIDERS
        ]
    )


def _base_gpu_price(gpu) -> float:
    if gpu.bf16_tflops:
        return 0.15 + float(gpu.bf16_tflops) / 450
    return 0.08 + max(gpu.memory_gb, 8) * 0.012


def generate(connection, *, offers: int, seed: int, log=print) -> None:
    """Replace the catalog with `offers` generated offers, then VACUUM ANALYZE."""
    from django.utils import timezone

    from marketplace.models import GpuModel, Offer, OfferPrice, Quote, Reservation

    rng = random.Random(seed)
    started = time.monotonic()
    Reservation.objects.all().delete()
    Quote.objects.all().delete()
    OfferPrice.objects.all().delete()
    Offer.objects.all().delete()
    providers = create_providers(rng)
    places = regions()
    provider_regions = {
        p.pk: rng.sample(places, rng.randint(12, 60) if share < 5 else rng.randint(40, 120))
        for p, (_, share, _) in zip(providers, PROVIDERS, strict=True)
    }
    provider_factor = {p.pk: rng.lognormvariate(0, 0.18) for p in providers}
    gpus = list(GpuModel.objects.all())
    now = timezone.now()
    rows = _rows(rng, offers, providers, provider_regions, provider_factor, gpus, now)
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor, for COPY
        indexes = _drop_secondary_indexes(raw)
        log(f"  writing {offers:,} offers with COPY ...")
        columns = ", ".join(COLUMNS)
        with raw.copy(f"COPY marketplace_offer ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        log(f"  rebuilding {len(indexes)} indexes ...")
        for definition in indexes:
            raw.execute(definition)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) marketplace_offer")
        cursor.execute("ANALYZE marketplace_provider")
        cursor.execute("ANALYZE marketplace_gpumodel")
    log(f"  catalog ready in {time.monotonic() - started:.0f} s")


def _drop_secondary_indexes(cursor) -> list[str]:
    """Drop the indexes that back no constraint (COPY then runs without maintaining them);
    return their definitions to rebuild afterwards, in one sort each."""
    cursor.execute(
        """
        SELECT indexname, indexdef FROM pg_indexes
        WHERE tablename = 'marketplace_offer'
          AND indexname NOT IN (SELECT conname FROM pg_constraint)
        """
    )
    found = cursor.fetchall()
    for name, _ in found:
        cursor.execute(f'DROP INDEX "{name}"')
    return [definition for _, definition in found]


def _rows(rng, count, providers, provider_regions, provider_factor, gpus, now):
    provider_ids = rng.choices(
        [p.pk for p in providers], weights=[share for _, share, _ in PROVIDERS], k=count
    )
    gpu_picks = rng.choices(
        gpus, weights=[GPU_WEIGHTS.get((g.name, g.memory_gb), 0.5) for g in gpus], k=count
    )
    pricing = rng.choices(["on_demand", "spot", "reserved"], weights=[55, 30, 15], k=count)
    status = rng.choices(["active", "stale", "withdrawn"], weights=[90, 6, 4], k=count)
    base = {gpu.pk: _base_gpu_price(gpu) for gpu in gpus}
    region_factor: dict[str, float] = {}
    for index in range(count):
        provider_id, gpu = provider_ids[index], gpu_picks[index]
        region, country, continent = rng.choice(provider_regions[provider_id])
        factor = region_factor.setdefault(region, rng.uniform(0.9, 1.25))
        gpu_count = rng.choices([1, 2, 4, 8], weights=(10, 10, 25, 55) if gpu.name in BIG_GPUS else (45, 20, 20, 15))[0]  # fmt: skip
        per_gpu = base[gpu.pk] * provider_factor[provider_id] * factor * rng.uniform(0.9, 1.1)
        if pricing[index] == "spot":
            per_gpu *= rng.uniform(0.3, 0.65)
        elif pricing[index] == "reserved":
            per_gpu *= rng.uniform(0.6, 0.8)
        suspect = rng.random() < 0.015
        if suspect:
            per_gpu *= rng.uniform(0.03, 0.15)
        price = (Decimal(repr(round(per_gpu * gpu_count, 4)))).quantize(SIX)
        state = status[index]
        age = {"active": 6 * 3600, "stale": 6 * 86400, "withdrawn": 30 * 86400}[state]
        vcpus = gpu_count * rng.choice([4, 8, 12, 16, 24, 32])
        yield (
            provider_id,
            f"{gpu.name.lower()}-{gpu_count}x-{index}",
            gpu.pk,
            gpu_count,
            Decimal(gpu.memory_gb),
            Decimal(vcpus),
            Decimal(vcpus * rng.choice([4, 8, 16])),
            Decimal(gpu_count * rng.choice([100, 200, 500, 1000, 2000])),
            region,
            "" if rng.random() < 0.8 else region + rng.choice("abc"),
            country,
            continent,
            pricing[index],
            price,
            (price / gpu_count).quantize(SIX),
            "USD",
            0 if rng.random() < 0.15 else rng.randint(1, 16),
            Decimal(repr(round(rng.uniform(0.85, 0.9999), 4))) if rng.random() < 0.6 else None,
            ("sxm" if gpu.name in BIG_GPUS and gpu_count >= 4 else "pcie"),
            now - timedelta(seconds=rng.uniform(0, age) + (86400 if state != "active" else 0)),
            state,
            suspect,
            "price far below the GPU's median" if suspect else "",
            "{}",
            now,
            now,
        )
