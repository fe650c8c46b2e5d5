"""The all-in cost of a plan: compute + billed start-up time + disk + egress (docs/quotes.md).

Pure arithmetic on Decimals, no database: the formulas docs/quotes.md states, which every
breakdown carries (FORMULAS) so that a person can check it by hand. The one rounding rule
of docs/billing.md ("Quote = invoice"): each component of each leg is computed exactly and
rounded once, to the currency's minor unit, with `round_amount`, exactly as the invoice
line that bills it will be; a total is the sum of those amounts.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from common.money import SECONDS_PER_HOUR, currency_exponent, quantize_rate, round_amount

# Disk is priced per GB-month; a month is 730 hours (365 × 24 / 12), the convention AWS,
# GCP and Azure use to turn hourly rates into monthly ones.
HOURS_PER_MONTH = Decimal(730)
COMPONENTS = ("compute", "boot", "disk", "egress")
FORMULAS = {
    "compute": "price_per_hour × hours",
    "boot": "price_per_hour × boot_seconds / 3600",
    "disk_price_per_hour": "disk_price_per_gb_month × disk_gb × instances / 730, to 6 places",
    "disk": "disk_price_per_hour × hours",
    "egress_gb": "egress_gb × gpus / plan_gpus, to 6 places (the leg's share)",
    "egress": "egress_price_per_gb × the leg's egress_gb",
    "total": "sum of every leg's compute, boot, disk and egress, each rounded once to cents "
    "(half up), as the invoice lines that bill them are",
    "cost_per_work": "total_exact / (Σ gpus × relative_throughput × hours): the price of one "
    "A100-hour of work",
}


@dataclass(frozen=True)
class ProviderRates:
    """What a provider charges beyond the instance's hourly price (documented defaults when it
    publishes none: Provider's field defaults)."""

    provider_id: int
    slug: str
    disk_price_per_gb_month: Decimal
    egress_price_per_gb: Decimal
    boot_seconds: int

    @classmethod
    def of(cls, provider) -> ProviderRates:
        """A `marketplace.models.Provider`'s rates."""
        return cls(
            provider_id=provider.pk,
            slug=provider.slug,
            disk_price_per_gb_month=provider.disk_price_per_gb_month,
            egress_price_per_gb=provider.egress_price_per_gb,
            boot_seconds=provider.boot_seconds,
        )


@dataclass(frozen=True)
class Usage:
    """What the buyer asked for, the same for every plan."""

    hours: Decimal
    disk_gb: Decimal = Decimal(0)  # per instance
    egress_gb: Decimal = Decimal(0)  # for the whole job, shared by the legs per GPU
    currency: str = "USD"


@dataclass(frozen=True)
class LegCost:
    """One leg's components, exact (before the one rounding), and the rates behind them."""

    price_per_hour: Decimal  # the leg's instances together
    disk_price_per_hour: Decimal  # the leg's disk, all instances
    egress_gb: Decimal  # the leg's share of the job's egress
    compute: Decimal
    boot: Decimal
    disk: Decimal
    egress: Decimal

    @property
    def exact(self) -> Decimal:
        return self.compute + self.boot + self.disk + self.egress

    def amounts(self, currency: str) -> dict[str, Decimal]:
        """Each component as its invoice line will bill it: rounded once."""
        return {name: round_amount(getattr(self, name), currency) for name in COMPONENTS}

    def subtotal(self, currency: str) -> Decimal:
        return sum(self.amounts(currency).values(), Decimal(0))


def leg_cost(
    *,
    offer_price_per_hour: Decimal,
    units: int,
    gpus: int,
    plan_gpus: int,
    rates: ProviderRates,
    usage: Usage,
) -> LegCost:
    price = quantize_rate(offer_price_per_hour * units)
    disk_price = disk_price_per_hour(rates.disk_price_per_gb_month, usage.disk_gb, units)
    egress_gb = quantize_rate(usage.egress_gb * gpus / plan_gpus)
    return LegCost(
        price_per_hour=price,
        disk_price_per_hour=disk_price,
        egress_gb=egress_gb,
        compute=price * usage.hours,
        boot=price * rates.boot_seconds / SECONDS_PER_HOUR,
        disk=disk_price * usage.hours,
        egress=rates.egress_price_per_gb * egress_gb,
    )


def disk_price_per_hour(price_per_gb_month: Decimal, disk_gb: Decimal, units: int) -> Decimal:
    """The hourly rate of the disk asked for: the rate an invoice's disk line bills."""
    return quantize_rate(price_per_gb_month * disk_gb * units / HOURS_PER_MONTH)


def plan_total(costs: list[LegCost], currency: str) -> tuple[Decimal, Decimal]:
    """(exact total, the total billed: the sum of each leg's components, each rounded once)."""
    exact = sum((cost.exact for cost in costs), Decimal(0))
    return exact, sum((cost.subtotal(currency) for cost in costs), Decimal(0))


def rounding_slack(currency: str) -> Decimal:
    """How far below its exact cost a one-leg plan's billed total can lie: half a minor
    unit per component."""
    return len(COMPONENTS) * Decimal(1).scaleb(-currency_exponent(currency)) / 2


def cost_per_work(total: Decimal, work_gpu_hours: Decimal) -> Decimal:
    """`total` per A100-hour of work; work_gpu_hours = Σ gpus × relative throughput × hours."""
    return quantize_rate(total / work_gpu_hours)


# --- lower bounds, for stopping a scan of offers in price order early ---------------------


@dataclass(frozen=True)
class CheapestExtras:
    """The smallest extras any provider could add: the floor under any unseen offer's cost."""

    boot_seconds: int
    disk_per_instance: Decimal
    egress: Decimal

    @classmethod
    def of(cls, rates: list[ProviderRates], usage: Usage) -> CheapestExtras:
        if not rates:
            return cls(0, Decimal(0), Decimal(0))
        return cls(
            boot_seconds=min(rate.boot_seconds for rate in rates),
            disk_per_instance=min(
                rate.disk_price_per_gb_month * usage.disk_gb * usage.hours / HOURS_PER_MONTH
                for rate in rates
            ),
            egress=min(rate.egress_price_per_gb * usage.egress_gb for rate in rates),
        )

    def billed_hours(self, usage: Usage) -> Decimal:
        return usage.hours + Decimal(self.boot_seconds) / SECONDS_PER_HOUR

    def single_offer_total_floor(self, price_per_hour: Decimal, usage: Usage) -> Decimal:
        """No single-instance plan at `price_per_hour` or dearer costs less than this."""
        return price_per_hour * self.billed_hours(usage) + self.disk_per_instance + self.egress
