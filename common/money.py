"""The one money helper: Decimal amounts with an explicit currency, rounded once.

Rates (per hour, per GB) keep 6 places; amounts are rounded to the currency's minor unit
only where an invoice line or a charge is made (ROUND_HALF_UP, as card networks do).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

RATE_PLACES = Decimal("0.000001")
SECONDS_PER_HOUR = Decimal(3600)
_MINOR_UNITS = {"USD": 2, "EUR": 2, "GBP": 2, "JPY": 0}


def currency_exponent(currency: str) -> int:
    return _MINOR_UNITS.get(currency.upper(), 2)


def round_amount(amount: Decimal, currency: str) -> Decimal:
    """The one rounding rule (docs/billing.md, "Quote = invoice"): an exact amount, rounded
    once to the currency's minor unit. Quote components, invoice lines and so the
    reservation's cost all go through it."""
    exponent = currency_exponent(currency)
    return amount.quantize(Decimal(1).scaleb(-exponent), rounding=ROUND_HALF_UP)


def quantize_rate(rate: Decimal) -> Decimal:
    return rate.quantize(RATE_PLACES, rounding=ROUND_HALF_UP)


def cost_of_seconds(seconds: int, price_per_hour: Decimal) -> Decimal:
    """Exact (unrounded) cost of `seconds` at an hourly price."""
    return Decimal(seconds) * price_per_hour / SECONDS_PER_HOUR
