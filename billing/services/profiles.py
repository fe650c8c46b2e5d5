"""Billing profiles: whom an organization's invoices are addressed to, and where it is
established for VAT. One per organization, replaced whole."""

from __future__ import annotations

from dataclasses import dataclass

from billing.models import BillingProfile
from billing.tax import country_normalised, vat_id_normalised


@dataclass(frozen=True)
class BillingProfileData:
    legal_name: str
    address_line1: str
    postal_code: str
    city: str
    country: str
    email: str
    address_line2: str = ""
    vat_id: str = ""


def billing_profile_put(*, org, data: BillingProfileData) -> BillingProfile:
    """Create or replace the organization's profile. The country must be an ISO 3166-1
    alpha-2 code (`invalid_country`); the VAT id is normalised and, in an EU member state,
    must have that state's prefix and format (`invalid_vat_id`). Invoices already issued
    keep the details they were issued with."""
    country = country_normalised(data.country)
    vat_id = vat_id_normalised(data.vat_id, country=country)
    profile, _ = BillingProfile.objects.update_or_create(
        org=org,
        defaults={
            "legal_name": data.legal_name.strip(),
            "address_line1": data.address_line1.strip(),
            "address_line2": data.address_line2.strip(),
            "postal_code": data.postal_code.strip(),
            "city": data.city.strip(),
            "country": country,
            "vat_id": vat_id,
            "email": data.email.strip(),
        },
    )
    return profile
