"""The admin stores a billing profile with the API's checks."""

from __future__ import annotations

import pytest

from billing.models import BillingProfile
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db

ADD = "/admin/billing/billingprofile/add/"


def _form(org, **change) -> dict:
    return {
        "org": org.pk, "legal_name": "Acme SA", "address_line1": "1 rue de la Paix",
        "address_line2": "", "postal_code": "75002", "city": "Paris", "country": "fr",
        "vat_id": "FR 12 345678901", "email": "compta@acme.example",
    } | change  # fmt: skip


def test_the_admin_normalises_a_profile(admin_client):
    org = OrganizationFactory()
    response = admin_client.post(ADD, _form(org))
    assert response.status_code == 302, response.content.decode()[:2000]
    profile = BillingProfile.objects.get(org=org)
    assert (profile.country, profile.vat_id) == ("FR", "FR12345678901")


@pytest.mark.parametrize(
    ("change", "field"), [({"country": "FX"}, "country"), ({"vat_id": "DE123456789"}, "vat_id")]
)
def test_the_admin_refuses_what_the_api_refuses(admin_client, change, field):
    org = OrganizationFactory()
    response = admin_client.post(ADD, _form(org, **change))
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert not BillingProfile.objects.filter(org=org).exists()
