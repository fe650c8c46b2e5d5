"""GET and PUT /api/v1/orgs/<id>/billing-profile/: finance roles only, one organization's
own, country and VAT id checked and normalised, nothing changed by a refusal."""

from __future__ import annotations

import pytest

from billing.models import BillingProfile
from tests.factories import MembershipFactory, make_org_with_key

pytestmark = pytest.mark.django_db

BODY = {
    "legal_name": "Acme Compute GmbH",
    "address_line1": "Hauptstraße 1",
    "address_line2": "3. OG",
    "postal_code": "10115",
    "city": "Berlin",
    "country": "de",
    "vat_id": "de 123.456-789",
    "email": "billing@acme.example",
}
STORED = BODY | {"country": "DE", "vat_id": "DE123456789"}


def _url(org) -> str:
    return f"/api/v1/orgs/{org.pk}/billing-profile/"


def _error(response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def _stored(org) -> dict:
    return BillingProfile.objects.filter(org=org).values(*BODY).get()


@pytest.mark.parametrize("role", ["owner", "admin", "finance"])
def test_finance_roles_put_then_get_the_profile_normalised(api_client, role):
    caller = make_org_with_key(role=role)
    # when the profile is put, with a lower-case country and a VAT id written with separators
    put = api_client.put(_url(caller.org), BODY, format="json", **caller.headers)
    # then it is stored and answered normalised
    assert put.status_code == 200, put.content
    body = put.json()
    assert body.pop("updated_at").endswith("Z")
    assert body == STORED | {"org": caller.org.pk}
    assert _stored(caller.org) == STORED
    # and a GET answers the same
    got = api_client.get(_url(caller.org), **caller.headers)
    assert got.status_code == 200
    assert {k: v for k, v in got.json().items() if k != "updated_at"} == STORED | {
        "org": caller.org.pk
    }


def test_a_put_replaces_the_whole_profile(api_client):
    caller = make_org_with_key(role="finance")
    api_client.put(_url(caller.org), BODY, format="json", **caller.headers)
    # when a body without the optional address line and VAT id is put
    body = {k: v for k, v in BODY.items() if k not in ("address_line2", "vat_id")}
    response = api_client.put(_url(caller.org), body | {"country": "US"}, format="json",
                              **caller.headers)  # fmt: skip
    # then they are emptied, and a US buyer needs no EU VAT id
    assert response.status_code == 200, response.content
    assert _stored(caller.org) == STORED | {"address_line2": "", "vat_id": "", "country": "US"}
    assert BillingProfile.objects.filter(org=caller.org).count() == 1


def test_a_get_before_any_profile_is_a_404(api_client):
    caller = make_org_with_key(role="finance")
    response = api_client.get(_url(caller.org), **caller.headers)
    assert _error(response) == (404, "not_found")
    assert "no billing profile" in response.json()["error"]["message"]


def test_another_organizations_profile_is_not_found_and_not_changed(api_client):
    # given another organization with a profile
    other = make_org_with_key(role="owner")
    api_client.put(_url(other.org), BODY, format="json", **other.headers)
    caller = make_org_with_key(role="owner")
    # when the caller's API key reads or writes it
    assert _error(api_client.get(_url(other.org), **caller.headers)) == (404, "not_found")
    put = api_client.put(
        _url(other.org), BODY | {"legal_name": "Hijacked"}, format="json", **caller.headers
    )
    assert _error(put) == (404, "not_found")
    # and a signed-in user who is no member of it tries the same
    api_client.force_authenticate(caller.user)
    assert _error(api_client.get(_url(other.org))) == (404, "not_found")
    # then it is unchanged, and no profile was made for the caller either
    assert _stored(other.org) == STORED
    assert not BillingProfile.objects.filter(org=caller.org).exists()


def test_a_signed_in_member_reads_the_profile_of_the_organization_in_the_url(api_client):
    # given a user who is finance in one organization and buyer in another
    finance = make_org_with_key(role="finance")
    api_client.put(_url(finance.org), BODY, format="json", **finance.headers)
    membership = MembershipFactory(org=finance.org, role="finance")
    buyer_org = MembershipFactory(user=membership.user, role="buyer").org
    api_client.force_authenticate(membership.user)
    # then the URL's organization decides the role
    assert api_client.get(_url(finance.org)).json()["legal_name"] == BODY["legal_name"]
    assert _error(api_client.get(_url(buyer_org))) == (403, "permission_denied")


@pytest.mark.parametrize("role", ["buyer", "provider"])
def test_other_roles_may_neither_read_nor_write_it(api_client, role):
    owner = make_org_with_key(role="owner")
    api_client.put(_url(owner.org), BODY, format="json", **owner.headers)
    caller = make_org_with_key(role=role, org=owner.org)
    assert _error(api_client.get(_url(owner.org), **caller.headers)) == (403, "permission_denied")
    put = api_client.put(
        _url(owner.org), BODY | {"legal_name": "Changed"}, format="json", **caller.headers
    )
    assert _error(put) == (403, "permission_denied")
    assert _stored(owner.org) == STORED


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"country": "XX"}, "invalid_country"),
        ({"country": "EL"}, "invalid_country"),  # Greece is GR; EL is its VAT prefix
        ({"country": "Germany"}, "invalid_country"),
        ({"vat_id": "FR12345678901"}, "invalid_vat_id"),  # a French id for a German address
        ({"vat_id": "DE1234"}, "invalid_vat_id"),
        ({"country": "GR", "vat_id": "GR123456789"}, "invalid_vat_id"),
        ({"email": "not-an-email"}, "validation_error"),
        ({"legal_name": ""}, "validation_error"),
        ({"vat": "DE123456789"}, "unknown_field"),
    ],
)
def test_bad_input_is_a_400_and_changes_nothing(api_client, change, code):
    # given a stored profile
    caller = make_org_with_key(role="finance")
    api_client.put(_url(caller.org), BODY, format="json", **caller.headers)
    # when a bad one is put
    response = api_client.put(_url(caller.org), BODY | change, format="json", **caller.headers)
    # then it is refused in the one error format, and the stored profile is unchanged
    assert _error(response) == (400, code)
    assert response.json()["error"]["message"]
    assert _stored(caller.org) == STORED


def test_a_missing_field_is_a_400(api_client):
    caller = make_org_with_key(role="finance")
    body = {k: v for k, v in BODY.items() if k != "city"}
    response = api_client.put(_url(caller.org), body, format="json", **caller.headers)
    assert _error(response) == (400, "validation_error")
    assert "city" in response.json()["error"]["fields"]
    assert not BillingProfile.objects.filter(org=caller.org).exists()


def test_a_greek_profile_takes_the_el_prefix(api_client):
    caller = make_org_with_key(role="finance")
    body = BODY | {"country": "GR", "vat_id": "el-123456789", "city": "Αθήνα"}
    response = api_client.put(_url(caller.org), body, format="json", **caller.headers)
    assert response.status_code == 200, response.content
    assert (response.json()["country"], response.json()["vat_id"]) == ("GR", "EL123456789")
