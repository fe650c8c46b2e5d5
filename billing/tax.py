"""Which VAT an invoice carries: a pure decision from the seller's country and the buyer's
billing profile, and the checks of a country code and a VAT id (docs/billing.md, "Tax").

GPU time sold online is an electronically supplied service (Directive 2006/112/EC): between
businesses it is taxed where the customer is established (Art. 44), so a business in
another member state accounts for the VAT itself (reverse charge, Art. 196); to a consumer
in the EU it is taxed at the consumer's member state's rate (Art. 58, declared through the
One-Stop Shop); outside the EU it is outside the scope of EU VAT.

Rates are each member state's standard rate in force on 2026-01-01 (Estonia 24 % from
2025-07-01, Finland 25.5 % from 2024-09-01, Romania 21 % from 2025-08-01, Slovakia 23 % from
2025-01-01); a change of rate is a change of this table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

import pycountry

from common.errors import DomainError
from common.money import round_amount


@dataclass(frozen=True)
class MemberState:
    vat_prefix: str  # the ISO code, except Greece: EL
    standard_rate: Decimal  # percent
    vat_format: str  # what follows the prefix (VIES formats, without check digits)


# fmt: off
EU_MEMBER_STATES: dict[str, MemberState] = {
    "AT": MemberState("AT", Decimal("20"), r"U\d{8}"),
    "BE": MemberState("BE", Decimal("21"), r"[01]\d{9}"),
    "BG": MemberState("BG", Decimal("20"), r"\d{9,10}"),
    "CY": MemberState("CY", Decimal("19"), r"\d{8}[A-Z]"),
    "CZ": MemberState("CZ", Decimal("21"), r"\d{8,10}"),
    "DE": MemberState("DE", Decimal("19"), r"\d{9}"),
    "DK": MemberState("DK", Decimal("25"), r"\d{8}"),
    "EE": MemberState("EE", Decimal("24"), r"\d{9}"),
    "ES": MemberState("ES", Decimal("21"), r"[0-9A-Z]\d{7}[0-9A-Z]"),
    "FI": MemberState("FI", Decimal("25.5"), r"\d{8}"),
    "FR": MemberState("FR", Decimal("20"), r"[0-9A-Z]{2}\d{9}"),
    "GR": MemberState("EL", Decimal("24"), r"\d{9}"),
    "HR": MemberState("HR", Decimal("25"), r"\d{11}"),
    "HU": MemberState("HU", Decimal("27"), r"\d{8}"),
    "IE": MemberState("IE", Decimal("23"), r"\d{7}[A-W][A-IW]?|\d[A-Z+*]\d{5}[A-W]"),
    "IT": MemberState("IT", Decimal("22"), r"\d{11}"),
    "LT": MemberState("LT", Decimal("21"), r"\d{9}|\d{12}"),
    "LU": MemberState("LU", Decimal("17"), r"\d{8}"),
    "LV": MemberState("LV", Decimal("21"), r"\d{11}"),
    "MT": MemberState("MT", Decimal("18"), r"\d{8}"),
    "NL": MemberState("NL", Decimal("21"), r"\d{9}B\d{2}"),
    "PL": MemberState("PL", Decimal("23"), r"\d{10}"),
    "PT": MemberState("PT", Decimal("23"), r"\d{9}"),
    "RO": MemberState("RO", Decimal("21"), r"\d{2,10}"),
    "SE": MemberState("SE", Decimal("25"), r"\d{10}01"),
    "SI": MemberState("SI", Decimal("22"), r"\d{8}"),
    "SK": MemberState("SK", Decimal("23"), r"\d{10}"),
}
# fmt: on

REVERSE_CHARGE_NOTE = (
    "Reverse charge: VAT to be accounted for by the recipient, "
    "Article 196 of Council Directive 2006/112/EC"
)
OUTSIDE_SCOPE_NOTE = "Outside the scope of EU VAT: the customer is established outside the EU"
# Outside the EU, a VAT or tax id is kept as given (normalised), without a format check.
OTHER_TAX_ID = re.compile(r"[A-Z0-9]{2,20}")
_VAT_ID_SEPARATORS = re.compile(r"[\s.\-]")
ZERO = Decimal("0")


class TaxRule:
    DOMESTIC = "domestic"
    REVERSE_CHARGE = "reverse_charge"
    EU_CONSUMER = "eu_consumer"
    OUTSIDE_EU = "outside_eu"
    NO_PROFILE = "no_profile"
    SELLER_OUTSIDE_EU = "seller_outside_eu"


class Buyer(Protocol):
    """What the decision reads of a billing profile."""

    country: str
    vat_id: str


@dataclass(frozen=True)
class TaxDecision:
    rate: Decimal  # percent
    note: str  # printed on the invoice; empty for a plain domestic supply
    reverse_charge: bool
    rule: str  # a TaxRule
    country: str  # whose VAT rate applies; empty when no VAT is charged

    def tax_on(self, amount: Decimal, currency: str) -> Decimal:
        """The tax on `amount`, rounded once to the currency's minor unit."""
        return round_amount(amount * self.rate / 100, currency)


def tax_decision(*, seller_country: str, buyer: Buyer | None) -> TaxDecision:
    seller_state = EU_MEMBER_STATES.get(seller_country)
    if seller_state is None:
        note = f"No VAT charged: the seller ({seller_country}) is not established in the EU"
        return TaxDecision(ZERO, note, False, TaxRule.SELLER_OUTSIDE_EU, "")
    if buyer is None:
        note = (
            "Place of supply unknown (no billing profile): VAT charged at the seller's "
            f"rate ({seller_country})"
        )
        return TaxDecision(
            seller_state.standard_rate, note, False, TaxRule.NO_PROFILE, seller_country
        )
    if buyer.country == seller_country:
        return TaxDecision(seller_state.standard_rate, "", False, TaxRule.DOMESTIC, seller_country)
    buyer_state = EU_MEMBER_STATES.get(buyer.country)
    if buyer_state is None:
        return TaxDecision(ZERO, OUTSIDE_SCOPE_NOTE, False, TaxRule.OUTSIDE_EU, "")
    if buyer.vat_id:
        return TaxDecision(ZERO, REVERSE_CHARGE_NOTE, True, TaxRule.REVERSE_CHARGE, "")
    note = f"VAT of the customer's member state ({buyer.country}): supply to a non-taxable person"
    return TaxDecision(buyer_state.standard_rate, note, False, TaxRule.EU_CONSUMER, buyer.country)


def country_code(text: str) -> str:
    """`text` as an ISO 3166-1 alpha-2 code, upper case; ValueError if it is none (the form
    `config.env.env_parsed` reads the setting PLATFORM_COUNTRY with)."""
    code = text.strip().upper()
    if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
        raise ValueError(
            f"must be an ISO 3166-1 alpha-2 country code (IE, DE, US...), got {text!r}"
        )
    return code


def country_normalised(country: str) -> str:
    """An ISO 3166-1 alpha-2 code, upper case, or DomainError `invalid_country`."""
    try:
        return country_code(country)
    except ValueError as error:
        raise DomainError("invalid_country", f"country {error}.") from None


def country_name(code: str) -> str:
    country = pycountry.countries.get(alpha_2=code)
    return country.name if country else code


def vat_id_normalised(vat_id: str, *, country: str) -> str:
    """`vat_id` upper case without spaces, dots or dashes; in an EU member state it must
    carry that state's prefix (Greece: EL) and format, or DomainError `invalid_vat_id`."""
    normalised = _VAT_ID_SEPARATORS.sub("", vat_id).upper()
    if not normalised:
        return ""
    state = EU_MEMBER_STATES.get(country)
    if state is None:
        if OTHER_TAX_ID.fullmatch(normalised):
            return normalised
        raise DomainError(
            "invalid_vat_id", f"{vat_id!r} is not a tax id (2 to 20 letters or digits)."
        )
    prefix, number = normalised[:2], normalised[2:]
    if prefix != state.vat_prefix:
        raise DomainError(
            "invalid_vat_id",
            f"A VAT id of {country} starts with {state.vat_prefix}, not {prefix!r}.",
            expected_prefix=state.vat_prefix,
        )
    if not re.fullmatch(state.vat_format, number):
        raise DomainError(
            "invalid_vat_id", f"{vat_id!r} does not have the format of a VAT id of {country}."
        )
    return normalised
