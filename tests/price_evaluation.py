"""The labelled evaluation of the price check (issue 15).

Every GPU row of the shared SkyPilot snapshot is labelled genuine or not a price, with a
reason, in `data/price_labels_skypilot_v8.csv` (the row keys only: the prices are read from
the snapshot itself). The labels were written by reading the data, provider by provider, not
by running any check: mithril lists $1.00 per GPU-hour for H100 and H200 alike with
SpotPrice = Price, an auction floor; everything else is a list price, a spot price or a
marketplace ask (cheap by design, not an error).

Growth scenarios change the loaded snapshot the way a growing catalog would, and label the
rows they add. A check is then scored on the active GPU rows: precision (of the flagged
rows, the share that are not prices) and recall (of the rows that are not prices, the share
flagged). `bench/price_check.py` prints the table for the old rule and the current one.
"""

from __future__ import annotations

import csv
import random
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from django.utils import timezone

from marketplace.models import Offer, OfferStatus, Provider

SHARED_CATALOG = Path(__file__).resolve().parents[1] / ".." / "shared/data/skypilot-catalog-v8"
LABELS_FILE = Path(__file__).resolve().parent / "data" / "price_labels_skypilot_v8.csv"
GENUINE, NOT_A_PRICE = "genuine", "not_a_price"
REASONS = {
    "list-price": "list price of a cloud that sells its own machines",
    "spot-price": "a cloud's spot or preemptible price, below its on-demand price",
    "marketplace-ask": "a host's ask on a marketplace (vast, cudo, lium): cheap by design",
    "low-cost-cloud": "hyperbolic's list price: a low-cost cloud, $1.29/GPU-h for H100",
    "bid-floor": "mithril's auction floor: $1.00/GPU-h for H100 and H200 alike",
    "spot-copy-of-bid-floor": "mithril's SpotPrice column, a copy of the same floor",
    "drawn-from-spread": "a synthetic provider priced like one of the class's providers",
    "twin": "a synthetic twin of a snapshot provider, its prices scaled by one factor",
    "decimal-slip": "a price with its decimal point two places off",
}
SEED = 15  # the number: every scenario draws the same rows on every run

Key = tuple[str, str, str, str, str]  # provider slug, sku, region, zone, pricing


@dataclass(frozen=True)
class Label:
    verdict: str  # GENUINE or NOT_A_PRICE
    reason: str  # a key of REASONS

    @property
    def is_price(self) -> bool:
        return self.verdict == GENUINE


def snapshot_labels() -> dict[Key, Label]:
    with LABELS_FILE.open(newline="", encoding="utf-8") as handle:
        return {
            (r["provider"], r["sku"], r["region"], r["zone"], r["pricing"]): Label(
                r["label"], r["reason"]
            )
            for r in csv.DictReader(handle)
        }


def offer_key(offer: Offer) -> Key:
    return (offer.provider.slug, offer.sku, offer.region, offer.zone, offer.pricing)


def active_gpu_offers():
    return Offer.objects.filter(gpu__isnull=False, status=OfferStatus.ACTIVE).select_related(
        "provider", "gpu"
    )


# --- scores -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Score:
    rows: int
    not_prices: int
    flagged: int
    genuine_flagged: tuple[Key, ...] = ()
    missed: tuple[Key, ...] = ()

    @property
    def precision(self) -> float:  # nothing flagged: no false alarm
        caught = self.flagged - len(self.genuine_flagged)
        return caught / self.flagged if self.flagged else 1.0

    @property
    def recall(self) -> float:  # nothing to catch: nothing missed
        caught = self.not_prices - len(self.missed)
        return caught / self.not_prices if self.not_prices else 1.0


def score(labels: dict[Key, Label], flagged: Iterable[Key]) -> Score:
    """Score the flagged keys against the labels of the rows in play (`labels`)."""
    flagged = set(flagged) & set(labels)
    return Score(
        rows=len(labels),
        not_prices=sum(not label.is_price for label in labels.values()),
        flagged=len(flagged),
        genuine_flagged=tuple(sorted(k for k in flagged if labels[k].is_price)),
        missed=tuple(
            sorted(k for k, label in labels.items() if not label.is_price and k not in flagged)
        ),
    )


# --- scenarios --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    about: str
    # Changes the loaded snapshot and returns the labels of the rows it added.
    build: Callable[[random.Random], dict[Key, Label]] = lambda rng: {}
    leaving: tuple[str, ...] = field(default=())  # providers whose offers are withdrawn

    def apply(self, labels: dict[Key, Label]) -> dict[Key, Label]:
        """Build the scenario in the database; the labels of its active GPU rows."""
        Offer.objects.filter(provider__slug__in=self.leaving).update(status=OfferStatus.WITHDRAWN)
        added = self.build(random.Random(SEED))
        in_play = {offer_key(o) for o in active_gpu_offers()}
        labelled = {**labels, **added}
        unlabelled = in_play - set(labelled)
        assert not unlabelled, f"rows without a label: {sorted(unlabelled)[:5]}"
        return {key: labelled[key] for key in in_play}


def _provider(slug: str) -> Provider:
    return Provider.objects.get_or_create(slug=slug, defaults={"name": slug})[0]


def _copy(template: Offer, provider: Provider, per_gpu: Decimal, **fields) -> Offer:
    per_gpu = per_gpu.quantize(Decimal("0.0001"))
    values = {
        f.attname: getattr(template, f.attname)
        for f in Offer._meta.concrete_fields
        if not f.primary_key and f.attname not in {"suspect", "suspect_reason", "feed_id"}
    }
    values.update(
        provider_id=provider.pk,
        price_per_gpu_hour=per_gpu,
        price_per_hour=per_gpu * template.gpu_count,
        observed_at=timezone.now(),
        **fields,
    )
    return Offer(**values)


def _genuine_provider_medians() -> dict[tuple[int, str], list[tuple[Decimal, Offer]]]:
    """(GPU model, pricing) -> each genuine provider's median per-GPU price and a row of it."""
    labels = snapshot_labels()
    rows = defaultdict(list)
    for offer in active_gpu_offers().order_by("id"):
        if labels.get(offer_key(offer), Label(GENUINE, "")).is_price:
            rows[(offer.gpu_id, offer.pricing, offer.provider_id)].append(offer)
    classes = defaultdict(list)
    for (gpu_id, pricing, _), offers in rows.items():
        median = statistics.median_low(o.price_per_gpu_hour for o in offers)
        classes[(gpu_id, pricing)].append((median, offers[0]))
    return classes


def _more_providers(rng: random.Random, providers: int = 10) -> dict[Key, Label]:
    """Ten providers, each in about 60% of the classes, at a price drawn from the class's
    own spread: one genuine provider's median, give or take 10%."""
    classes = sorted(_genuine_provider_medians().items(), key=lambda item: item[0])
    offers, labels = [], {}
    for n in range(1, providers + 1):
        owner = _provider(f"synthetic-{n:02}")
        for _, votes in classes:
            if rng.random() >= 0.6:
                continue
            median, template = rng.choice(votes)
            price = median * Decimal(str(round(rng.uniform(0.9, 1.1), 3)))
            offers.append(_copy(template, owner, price, region="synthetic-1", zone=""))
            labels[offer_key_of(offers[-1], owner)] = Label(GENUINE, "drawn-from-spread")
    Offer.objects.bulk_create(offers)
    return labels


def offer_key_of(offer: Offer, owner: Provider) -> Key:
    return (owner.slug, offer.sku, offer.region, offer.zone, offer.pricing)


def _cheap_aggregator(rng: random.Random) -> dict[Key, Label]:
    """The issue's case: three more clouds, one of them an aggregator listing many cheaper
    H100 resellers (and A100s), the other two cheap neoclouds."""
    templates = {}
    for offer in active_gpu_offers().filter(provider__slug="lambda").order_by("gpu_count", "id"):
        templates.setdefault(f"{offer.gpu.name}{offer.gpu.memory_gb}", offer)
    offers, labels = [], {}

    def add(owner: Provider, model: str, low: float, high: float, rows: int) -> None:
        for n in range(rows):
            price = Decimal(str(round(rng.uniform(low, high), 2)))
            offer = _copy(templates[model], owner, price, region=f"reseller-{n}", zone="")
            offers.append(offer)
            labels[offer_key_of(offer, owner)] = Label(GENUINE, "drawn-from-spread")

    aggregator = _provider("aggregator")
    add(aggregator, "H10080", 1.45, 2.30, 40)
    add(aggregator, "A10080", 0.95, 1.60, 12)
    add(aggregator, "A10040", 0.85, 1.30, 8)
    for slug, h100, a100 in (("neocloud-a", 1.99, 1.29), ("neocloud-b", 2.19, 1.49)):
        owner = _provider(slug)
        add(owner, "H10080", h100, h100, 1)
        add(owner, "A10080", a100, a100, 1)
    Offer.objects.bulk_create(offers)
    return labels


def _doubled(rng: random.Random) -> dict[Key, Label]:
    """Every provider of the snapshot gets a synthetic twin: the same rows, every price
    scaled by one factor per twin (0.75-1.33, the middle of a class's spread; mithril's twin
    is the same floor at another level)."""
    labels = snapshot_labels()
    offers, added = [], {}
    for provider in Provider.objects.filter(offers__gpu__isnull=False).distinct().order_by("slug"):
        twin = _provider(f"{provider.slug}-twin")
        factor = Decimal(str(round(rng.uniform(0.75, 1.33), 3)))
        for offer in active_gpu_offers().filter(provider=provider).order_by("id"):
            copy = _copy(offer, twin, offer.price_per_gpu_hour * factor)
            offers.append(copy)
            label = labels[offer_key(offer)]
            added[offer_key_of(copy, twin)] = Label(label.verdict, "twin")
    Offer.objects.bulk_create(offers)
    return added


def _decimal_slip(rng: random.Random) -> dict[Key, Label]:
    """A new cloud lists two H100 machines correctly and one with the decimal point two
    places off ($0.0259 for $2.59)."""
    template = active_gpu_offers().filter(provider__slug="lambda", gpu__name="H100").first()
    owner = _provider("slip-cloud")
    rows = [
        ("2.49", "r1", GENUINE, "drawn-from-spread"),
        ("2.59", "r2", GENUINE, "drawn-from-spread"),
    ]
    rows.append(("0.0259", "r3", NOT_A_PRICE, "decimal-slip"))
    offers = [_copy(template, owner, Decimal(p), region=region, zone="") for p, region, *_ in rows]
    Offer.objects.bulk_create(offers)
    return {
        offer_key_of(offer, owner): Label(verdict, reason)
        for offer, (_, _, verdict, reason) in zip(offers, rows, strict=True)
    }


SNAPSHOT_PROVIDERS = (
    "aws",
    "cudo",
    "daytona",
    "hyperbolic",
    "hyperstack",
    "jarvislabs",
    "lambda",
    "lium",
    "nebius",
    "oci",
    "vast",
    "yotta",
)  # fmt: skip  (mithril leaving would leave nothing to catch)

SCENARIOS = (
    Scenario("snapshot", "the shared snapshot as it is"),
    Scenario("more-providers", "10 synthetic providers drawn from each class's spread", _more_providers),
    Scenario("cheap-aggregator", "an aggregator of cheap H100 resellers and two neoclouds join", _cheap_aggregator),
    Scenario("doubled", "every provider gets a synthetic twin at 0.75-1.33x", _doubled),
    Scenario("decimal-slip", "a new cloud lists one H100 at a hundredth of its price", _decimal_slip),
    Scenario(
        "dear-h100-sellers-leave",
        "aws, oci, daytona and lambda leave",
        leaving=("aws", "oci", "daytona", "lambda"),
    ),
    *(Scenario(f"{slug}-leaves", f"{slug} leaves", leaving=(slug,)) for slug in SNAPSHOT_PROVIDERS),
)  # fmt: skip
