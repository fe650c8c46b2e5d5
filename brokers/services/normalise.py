"""Normalisation of a pricing source's rows: canonical GPU, location, provider; one place
(`marketplace.gpu_names`, `marketplace.locations`) so that every source is judged alike."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from brokers.registry import cloud_launcher_for
from brokers.simulated import PROVIDER_SLUG as SIMULATED_SLUG
from brokers.sources.base import OfferRow
from marketplace.gpu_names import resolve
from marketplace.locations import Location, locate
from marketplace.models import GpuModel, Provider, ProviderKind
from marketplace.services.offer_inputs import OfferInput, offer_input_problem

# Offers a provider does not count (catalog clouds): treat as one launchable unit.
DEFAULT_AVAILABLE = 1
ZERO = Decimal(0)


class ProviderCache:
    """Provider ids by slug; creates system providers on first sight.

    A sync writes for system providers only. A slug an organization's provider holds (one
    registered before the clouds' slugs were reserved, or a cloud a catalog added since)
    is not the cloud's: its id is None, and the holder is kept in `conflicts` for the
    sync's report. Giving it the cloud's offers would send it the cloud's buyers."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self.conflicts: dict[str, Provider] = {}  # slug -> the organization's provider

    def id_for(self, slug: str) -> int | None:
        if slug not in self._ids and slug not in self.conflicts:
            provider = self._get_or_create(slug)
            if provider.is_system:
                self._ids[slug] = provider.pk
            else:
                self.conflicts[slug] = provider
        return self._ids.get(slug)

    @staticmethod
    def _get_or_create(slug: str) -> Provider:
        simulated = slug == SIMULATED_SLUG
        provider, _ = Provider.objects.get_or_create(
            slug=slug,
            defaults={
                "name": "Simulated Cloud" if simulated else slug.replace("-", " ").title(),
                "kind": ProviderKind.SIMULATED if simulated else ProviderKind.CLOUD,
                "launcher": "simulated" if simulated else cloud_launcher_for(slug),
            },
        )
        return provider

    @property
    def ids(self) -> list[int]:
        return list(self._ids.values())

    @property
    def slugs(self) -> list[str]:
        return list(self._ids)


class GpuCache:
    def __init__(self) -> None:
        self._ids = {(g.vendor, g.name, g.memory_gb): g.pk for g in GpuModel.objects.all()}

    def id_for(self, key: tuple) -> int | None:
        return self._ids.get(key)


class RowProblem(ValueError):
    """A row that was read but cannot be stored; the message is the reason."""


class Normaliser:
    """OfferRow -> OfferInput, counting what it cannot place.

    GPU and location lookups are remembered per label and per region: a catalog repeats a
    few hundred of each over its whole length.
    """

    def __init__(self) -> None:
        self.providers = ProviderCache()
        self.gpus = GpuCache()
        self.unknown_labels: Counter[str] = Counter()
        self.conflict_rows: Counter[str] = Counter()  # rows of `providers.conflicts`, by slug
        self.skipped = 0
        self.gpu_ids: set[int] = set()
        self.feed_id: int | None = None  # the input being read (set by the sync)
        self.input_providers: set[str] = set()  # providers of the input being read
        self._specs: dict[tuple[str, int | None], tuple[int | None, Decimal]] = {}
        self._places: dict[str, Location] = {}

    def normalise(self, row: OfferRow) -> OfferInput | None:
        """The offer to store; None for rows outside the market (counted); RowProblem for
        a row that cannot be stored as it is."""
        if not row.gpu_label or row.gpu_count <= 0:
            self.skipped += 1  # CPU-only rows: not our market
            return None
        gpu_id, memory_gb = self._gpu(row.gpu_label, row.gpu_memory_mib)
        if gpu_id is None:
            self.unknown_labels[row.gpu_label] += 1
            return None
        provider_id = self.providers.id_for(row.provider)
        if provider_id is None:
            self.conflict_rows[row.provider] += 1
            return None
        self.gpu_ids.add(gpu_id)
        place = self._place(row.region or row.zone)
        self.input_providers.add(row.provider)
        offer = OfferInput(
            provider_id=provider_id,
            sku=row.sku,
            gpu_id=gpu_id,
            gpu_count=row.gpu_count,
            gpu_memory_gb=memory_gb,
            price_per_hour=row.price_per_hour,
            pricing=row.pricing,
            currency=row.currency,
            vcpus=row.vcpus or ZERO,
            memory_gb=row.memory_gb or ZERO,
            disk_gb=row.disk_gb or ZERO,
            region=row.region,
            zone=row.zone,
            country=place.country,
            continent=place.continent,
            available=DEFAULT_AVAILABLE if row.available is None else row.available,
            reliability=row.reliability,
            interconnect=row.interconnect,
            extra=row.extra,
            feed_id=self.feed_id,
        )
        if (problem := offer_input_problem(offer)) is not None:
            raise RowProblem(problem)
        return offer

    def _gpu(self, label: str, memory_mib: int | None) -> tuple[int | None, Decimal]:
        key = (label, memory_mib)
        if key not in self._specs:
            spec = resolve(label, memory_mib)
            gpu_id = self.gpus.id_for(spec.key) if spec else None
            self._specs[key] = (gpu_id, Decimal(spec.memory_gb) if spec else ZERO)
        return self._specs[key]

    def _place(self, region: str) -> Location:
        if region not in self._places:
            self._places[region] = locate(region)
        return self._places[region]
