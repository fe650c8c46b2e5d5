"""Properties of quotes over random catalogs and requests, checked by brute force.

- the first quote is never dearer (by the objective) than any single offer that satisfies
  the request on its own;
- when such an offer exists there is a quote;
- every leg satisfies the filter and the requirement, within the offer's capacity;
- no stale, suspect, sold-out or withdrawn offer appears;
- every quote's total (and cost per work) is what the rules of docs/quotes.md give.

The filters and GPU specs are drawn from lists whose meaning is written out here in plain
Python, and the all-in cost is worked out here in plain Decimal arithmetic, so the check
does not lean on the code under test.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import Organization
from marketplace.models import GpuModel, Offer, Provider, ProviderKind, Quote
from marketplace.quoting.engine import quote_create
from marketplace.quoting.request import QuoteRequest
from marketplace.search import clear_catalog_cache

pytestmark = pytest.mark.django_db

GPUS = [("H100", 80), ("A100", 80), ("L4", 24), ("RTX4090", 24)]  # RTX4090: no throughput
SIX_PLACES, CENTS = Decimal("0.000001"), Decimal("0.01")


@dataclass(frozen=True)
class Spec:
    text: str
    names: frozenset[str]  # empty: any GPU
    vram: tuple[int, int | None]
    count: tuple[int, int | None]

    def fits(self, row: dict, *, alone: bool) -> bool:
        name, vram = row["gpu"]
        return (
            (not self.names or name in self.names)
            and _within(vram, self.vram)
            and (not alone or _within(row["gpu_count"], self.count))
        )


def _within(value, bounds) -> bool:
    low, high = bounds
    return value >= low and (high is None or value <= high)


SPECS = [
    Spec("H100:8", frozenset({"H100"}), (0, None), (8, 8)),
    Spec("A100,H100:80GB..:4..8", frozenset({"A100", "H100"}), (80, None), (4, 8)),
    Spec("8", frozenset(), (0, None), (8, 8)),
    Spec("L4:1..2", frozenset({"L4"}), (0, None), (1, 2)),
    Spec("24GB..40GB:2..", frozenset(), (24, 40), (2, None)),
    Spec("A100:12", frozenset({"A100"}), (0, None), (12, 12)),
    Spec("RTX4090,H100:2", frozenset({"RTX4090", "H100"}), (0, None), (2, 2)),
    Spec("nvidia:4..", frozenset(), (0, None), (4, None)),
    Spec("H100,A100:2..8", frozenset({"A100", "H100"}), (0, None), (2, 8)),
    Spec("1..", frozenset(), (0, None), (1, None)),
]
FILTERS = {
    "": lambda row: True,
    "region=r1": lambda row: row["region"] == "r1",
    "price<20": lambda row: row["price"] < 20,
    "gpus>=4 or pricing=spot": lambda row: row["gpu_count"] >= 4 or row["pricing"] == "spot",
    "not provider=beta gpu_price<=3.5/h": lambda row: (
        row["provider"] != "beta" and row["price"] / row["gpu_count"] <= Decimal("3.5")
    ),
}
PROVIDERS = {
    # slug: (disk $/GB-month, egress $/GB, boot seconds, reservable)
    "alpha": (Decimal("0.10"), Decimal("0.01"), 120, True),
    "beta": (Decimal("0.25"), Decimal("0.08"), 600, True),
    "gamma": (Decimal("0.05"), Decimal("0.00"), 30, False),
}

offers = st.fixed_dictionaries(
    {
        "provider": st.sampled_from(["alpha", "alpha", "beta", "beta", "gamma"]),
        "gpu": st.sampled_from(GPUS),
        "gpu_count": st.sampled_from([1, 2, 4, 8, 8]),
        "price": st.decimals(min_value=Decimal("0.5"), max_value=Decimal("40"), places=2),
        "status": st.sampled_from(["active"] * 8 + ["stale", "withdrawn"]),
        "suspect": st.sampled_from([False] * 5 + [True]),
        "available": st.sampled_from([0, 1, 2, 3, 3]),
        "region": st.sampled_from(["r1", "r2"]),
        "pricing": st.sampled_from(["on_demand", "spot"]),
    }
)
requests = st.fixed_dictionaries(
    {
        "spec": st.sampled_from(SPECS),
        "filter": st.sampled_from(sorted(FILTERS)) | st.just(""),
        "hours": st.sampled_from([Decimal(1), Decimal("7.5"), Decimal(24)]),
        "disk_gb": st.sampled_from([Decimal(0), Decimal(100)]),
        "egress_gb": st.sampled_from([Decimal(0), Decimal(40)]),
        "pricing": st.sampled_from([("on_demand",), ("on_demand", "spot")]),
        "objective": st.sampled_from(["total_cost", "cost_per_work"]),
        "max_total": st.sampled_from([None, None, Decimal("50.00"), Decimal("400.00")]),
        "allow_split": st.booleans(),
        "same_region": st.booleans(),
    }
)


@pytest.fixture
def world(db):
    providers = {
        slug: Provider.objects.create(
            name=slug,
            slug=slug,
            kind=ProviderKind.SIMULATED,
            launcher="simulated" if reservable else "",
            disk_price_per_gb_month=disk,
            egress_price_per_gb=egress,
            boot_seconds=boot,
        )
        for slug, (disk, egress, boot, reservable) in PROVIDERS.items()
    }
    gpus = {(g.name, g.memory_gb): g for g in GpuModel.objects.filter(name__in=dict(GPUS))}
    clear_catalog_cache()
    return providers, gpus, Organization.objects.create(name="Buyer", slug="buyer")


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(catalog=st.lists(offers, min_size=3, max_size=15), ask=requests)
def test_quotes_are_never_beaten_by_a_single_offer_and_only_use_fit_offers(world, catalog, ask):
    providers, gpus, org = world
    Quote.objects.all().delete()
    Offer.objects.all().delete()
    # given a random catalog
    rows = _create_offers(catalog, providers, gpus)
    # when a buyer asks for a random quote
    spec, fits_filter = ask["spec"], FILTERS[ask["filter"]]
    request = QuoteRequest(
        gpu=spec.text,
        hours=ask["hours"],
        filter=ask["filter"],
        pricing=ask["pricing"],
        objective=ask["objective"],
        disk_gb=ask["disk_gb"],
        egress_gb=ask["egress_gb"],
        max_total=ask["max_total"],
        allow_split=ask["allow_split"],
        same_region=ask["same_region"],
    )
    quotes = quote_create(org=org, request=request).quotes

    # then every leg is a quotable offer that fits the filter and the requirement
    by_id = {row["id"]: row for row in rows}
    usable = [
        row
        for row in rows
        if _quotable(row, ask) and fits_filter(row) and spec.fits(row, alone=False)
    ]
    usable_ids = {row["id"] for row in usable}
    for quote in quotes:
        gpus_total = 0
        for leg in quote.legs:
            row = by_id[leg["offer"]]
            assert leg["offer"] in usable_ids, (row, quote.legs)
            assert 1 <= leg["units"] <= row["available"]
            assert leg["gpus"] == leg["units"] * row["gpu_count"]
            assert Decimal(leg["price_per_hour"]) == row["price"] * leg["units"]
            gpus_total += leg["gpus"]
        assert _within(gpus_total, spec.count)
        legs = [(by_id[leg["offer"]], leg["units"]) for leg in quote.legs]
        assert _plan_score(legs, ask, by="total_cost") == quote.total
        if ask["objective"] == "cost_per_work":
            assert _plan_score(legs, ask, by="cost_per_work") == _quote_score(quote, ask)
        if len(quote.legs) == 1 and quote.legs[0]["units"] == 1:
            assert spec.fits(by_id[quote.legs[0]["offer"]], alone=True)
        if ask["same_region"]:
            assert (
                len(
                    {
                        (by_id[leg["offer"]]["provider"], by_id[leg["offer"]]["region"])
                        for leg in quote.legs
                    }
                )
                == 1
            )
        if ask["max_total"] is not None:
            assert quote.total <= ask["max_total"]

    # and no single fitting offer beats the first quote
    singles = [_single_score(row, ask) for row in usable if spec.fits(row, alone=True)]
    singles = [score for score in singles if score is not None]
    if singles:
        assert quotes, "a single offer fits, yet there is no quote"
        assert _quote_score(quotes[0], ask) <= min(singles)
    assert [_quote_score(q, ask) for q in quotes] == sorted(_quote_score(q, ask) for q in quotes)


def _create_offers(catalog, providers, gpus) -> list[dict]:
    now = timezone.now()
    created = Offer.objects.bulk_create(
        [
            Offer(
                provider=providers[row["provider"]],
                sku=f"sku-{index}",
                gpu=gpus[row["gpu"]],
                gpu_count=row["gpu_count"],
                gpu_memory_gb=Decimal(row["gpu"][1]),
                region=row["region"],
                pricing=row["pricing"],
                price_per_hour=row["price"],
                price_per_gpu_hour=row["price"] / row["gpu_count"],
                available=row["available"],
                status=row["status"],
                suspect=row["suspect"],
                observed_at=now,
            )
            for index, row in enumerate(catalog)
        ]
    )
    return [row | {"id": offer.pk} for row, offer in zip(catalog, created, strict=True)]


def _quotable(row: dict, ask: dict) -> bool:
    return (
        row["status"] == "active"
        and not row["suspect"]
        and row["available"] > 0
        and PROVIDERS[row["provider"]][3]
        and row["pricing"] in ask["pricing"]
        and (ask["objective"] != "cost_per_work" or row["gpu"][0] != "RTX4090")
    )


def _single_score(row: dict, ask: dict) -> Decimal | None:
    """The row's objective value as a one-instance plan; None when over max_total."""
    if ask["max_total"] is not None and _plan_score([(row, 1)], ask) > ask["max_total"]:
        return None
    return _plan_score([(row, 1)], ask, by=ask["objective"])


def _plan_score(legs: list[tuple[dict, int]], ask: dict, *, by: str = "total_cost") -> Decimal:
    """A plan's total, or its cost per A100-hour of work, by the rules of docs/quotes.md ("The
    all-in cost", "Objectives") and docs/billing.md ("Quote = invoice"): the disk's hourly
    rate and each leg's egress share kept to 6 places, every leg's component computed exactly
    and rounded once to cents (half up), the total their sum; cost per work = the exact total
    over Σ gpus × throughput × hours."""
    plan_gpus = sum(row["gpu_count"] * units for row, units in legs)
    exact, total = Decimal(0), Decimal(0)
    for row, units in legs:
        disk_rate, egress_rate, boot_seconds, _ = PROVIDERS[row["provider"]]
        price = _six(row["price"] * units)
        components = (
            price * ask["hours"],  # compute
            price * boot_seconds / 3600,  # billed start-up time
            _six(disk_rate * ask["disk_gb"] * units / 730) * ask["hours"],
            egress_rate * _six(ask["egress_gb"] * row["gpu_count"] * units / plan_gpus),
        )
        exact += sum(components)
        total += sum(c.quantize(CENTS, rounding=ROUND_HALF_UP) for c in components)
    if by == "total_cost":
        return total
    work = sum(
        row["gpu_count"] * units * _throughput(row["gpu"]) * ask["hours"] for row, units in legs
    )
    return _six(exact / work)


def _six(value: Decimal) -> Decimal:
    return value.quantize(SIX_PLACES, rounding=ROUND_HALF_UP)


def _throughput(gpu: tuple[str, int]) -> Decimal:
    name, memory_gb = gpu
    return GpuModel.objects.get(name=name, memory_gb=memory_gb).relative_throughput


def _quote_score(quote: Quote, ask: dict) -> Decimal:
    if ask["objective"] == "total_cost":
        return quote.total
    return Decimal(quote.breakdown["cost_per_work"])
