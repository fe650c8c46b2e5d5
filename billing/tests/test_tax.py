"""The tax decision (a pure function of the seller's country and the buyer's profile), the
rate table, and the checks of country codes and VAT ids."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest

from billing.tax import (
    EU_MEMBER_STATES,
    OUTSIDE_SCOPE_NOTE,
    TaxRule,
    country_normalised,
    tax_decision,
    vat_id_normalised,
)
from common.errors import DomainError


@dataclass
class Buyer:
    country: str
    vat_id: str = ""


def test_a_buyer_in_the_sellers_country_pays_the_sellers_rate_even_with_a_vat_id():
    decision = tax_decision(seller_country="IE", buyer=Buyer("IE", "IE1234567T"))
    assert (decision.rate, decision.reverse_charge, decision.rule, decision.note) == (
        Decimal("23"), False, TaxRule.DOMESTIC, ""
    )  # fmt: skip
    assert decision.tax_on(Decimal("100.00"), "EUR") == Decimal("23.00")


def test_a_business_in_another_member_state_gets_the_reverse_charge():
    decision = tax_decision(seller_country="IE", buyer=Buyer("DE", "DE123456789"))
    assert (decision.rate, decision.reverse_charge, decision.rule) == (
        0, True, TaxRule.REVERSE_CHARGE
    )  # fmt: skip
    assert decision.note == (
        "Reverse charge: VAT to be accounted for by the recipient, Article 196 of Council "
        "Directive 2006/112/EC"
    )  # word for word: what the invoice must say
    assert decision.tax_on(Decimal("100.00"), "EUR") == Decimal("0.00")


def test_a_consumer_in_another_member_state_pays_its_own_states_rate():
    decision = tax_decision(seller_country="IE", buyer=Buyer("FI"))
    assert (decision.rate, decision.reverse_charge, decision.country) == (
        Decimal("25.5"), False, "FI"
    )  # fmt: skip
    assert "FI" in decision.note
    # 100.00 x 25.5 % = 25.50
    assert decision.tax_on(Decimal("100.00"), "EUR") == Decimal("25.50")


def test_a_buyer_outside_the_eu_is_outside_the_scope_of_eu_vat_with_or_without_a_tax_id():
    for buyer in (Buyer("US"), Buyer("CH", "CHE123456789")):
        decision = tax_decision(seller_country="IE", buyer=buyer)
        assert (decision.rate, decision.note, decision.reverse_charge, decision.rule) == (
            0, OUTSIDE_SCOPE_NOTE, False, TaxRule.OUTSIDE_EU
        )  # fmt: skip


def test_without_a_profile_the_sellers_rate_applies_and_the_note_says_why():
    decision = tax_decision(seller_country="DE", buyer=None)
    assert (decision.rate, decision.rule) == (Decimal("19"), TaxRule.NO_PROFILE)
    assert decision.note == (
        "Place of supply unknown (no billing profile): VAT charged at the seller's rate (DE)"
    )


def test_a_seller_outside_the_eu_charges_no_vat():
    for buyer in (None, Buyer("US"), Buyer("DE", "DE123456789")):
        decision = tax_decision(seller_country="US", buyer=buyer)
        assert (decision.rate, decision.reverse_charge, decision.rule) == (
            0, False, TaxRule.SELLER_OUTSIDE_EU
        )  # fmt: skip
        assert decision.note == "No VAT charged: the seller (US) is not established in the EU"


def test_the_rate_table_has_the_27_member_states_at_their_current_standard_rates():
    # Standard rates in force on 2026-01-01, from the member states' announcements.
    expected = {
        "AT": "20", "BE": "21", "BG": "20", "CY": "19", "CZ": "21", "DE": "19", "DK": "25",
        "EE": "24", "ES": "21", "FI": "25.5", "FR": "20", "GR": "24", "HR": "25", "HU": "27",
        "IE": "23", "IT": "22", "LT": "21", "LU": "17", "LV": "21", "MT": "18", "NL": "21",
        "PL": "23", "PT": "23", "RO": "21", "SE": "25", "SI": "22", "SK": "23",
    }  # fmt: skip
    assert {code: state.standard_rate for code, state in EU_MEMBER_STATES.items()} == {
        code: Decimal(rate) for code, rate in expected.items()
    }
    assert EU_MEMBER_STATES["GR"].vat_prefix == "EL"


@pytest.mark.parametrize(
    ("amount", "rate_of", "tax"),
    [
        ("0.14", "IE", "0.03"),  # 0.0322
        ("0.50", "FI", "0.13"),  # 0.1275: half up
        ("0.02", "DE", "0.00"),  # 0.0038
        ("-10.00", "IE", "-2.30"),  # a credit
    ],
)
def test_the_tax_is_rounded_once_half_up(amount, rate_of, tax):
    decision = tax_decision(seller_country=rate_of, buyer=None)
    assert decision.tax_on(Decimal(amount), "EUR") == Decimal(tax)


@pytest.mark.parametrize(
    ("country", "vat_id", "normalised"),
    [
        ("DE", "de 123.456-789", "DE123456789"),
        ("GR", "EL 123456789", "EL123456789"),
        ("AT", "ATU12345678", "ATU12345678"),
        ("NL", "NL123456789B01", "NL123456789B01"),
        ("IE", "IE1234567T", "IE1234567T"),
        ("IE", "IE1234567FA", "IE1234567FA"),
        ("FR", "FR XX 123456789", "FRXX123456789"),
        ("ES", "ESX1234567X", "ESX1234567X"),
        ("SE", "SE123456789001", "SE123456789001"),
        ("CH", "CHE-123.456.789", "CHE123456789"),
        ("US", "12-3456789", "123456789"),
        ("DE", "", ""),
        ("DE", " . - ", ""),
    ],
)
def test_a_vat_id_is_normalised(country, vat_id, normalised):
    assert vat_id_normalised(vat_id, country=country) == normalised


@pytest.mark.parametrize(
    ("country", "vat_id"),
    [
        ("GR", "GR123456789"),  # Greece's VAT prefix is EL
        ("DE", "FR12345678901"),  # another state's prefix
        ("DE", "123456789"),  # no prefix
        ("DE", "DE12345678"),  # 8 digits
        ("AT", "AT12345678"),  # no U
        ("NL", "NL123456789"),  # no B01
        ("SE", "SE123456789012"),  # does not end in 01
        ("CH", "CHE_123"),  # not letters or digits
        ("US", "X"),  # too short
    ],
)
def test_a_malformed_vat_id_is_refused(country, vat_id):
    with pytest.raises(DomainError) as refused:
        vat_id_normalised(vat_id, country=country)
    assert refused.value.code == "invalid_vat_id"


def test_a_country_is_an_iso_code_in_upper_case():
    assert country_normalised(" ie ") == "IE"
    for bad in ("EL", "XX", "IRL", "", "Ireland", "U1"):
        with pytest.raises(DomainError) as refused:
            country_normalised(bad)
        assert refused.value.code == "invalid_country", bad
