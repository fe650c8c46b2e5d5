"""Organizations, API keys and providers are cursor-paged lists like every other."""

from __future__ import annotations

import pytest

from accounts.services import api_key_create
from tests.factories import MembershipFactory, ProviderFactory, UserFactory, make_org_with_key

pytestmark = pytest.mark.django_db


def _all_pages(client, url: str, **headers) -> list[list[dict]]:
    pages, params = [], {"limit": 2}
    while True:
        body = client.get(url, params, **headers).json()
        pages.append(body["results"])
        if body["next"] is None:
            return pages
        params = {"limit": 2, "cursor": body["next"]}


def test_it_pages_api_keys_newest_first(api_client):
    # given an owner key and four more keys of the same organization
    owner = make_org_with_key()
    for name in ("a", "b", "c", "d"):
        api_key_create(org=owner.org, created_by=owner.user, name=name, role="buyer")

    # when the owner lists them two at a time
    pages = _all_pages(api_client, "/api/v1/api-keys/", **owner.headers)

    # then all five come, newest first, over three pages
    assert [[key["name"] for key in page] for page in pages] == [["d", "c"], ["b", "a"], ["test"]]


def test_it_pages_a_users_organizations_by_id(api_client):
    # given a user in three organizations
    user = UserFactory()
    orgs = [MembershipFactory(user=user, role="admin").org for _ in range(3)]
    api_client.force_authenticate(user)

    # when the user lists them two at a time: then each comes once, in id order
    pages = _all_pages(api_client, "/api/v1/orgs/")
    assert [[org["id"] for org in page] for page in pages] == [
        [orgs[0].pk, orgs[1].pk],
        [orgs[2].pk],
    ]
    assert {org["role"] for page in pages for org in page} == {"admin"}


def test_it_pages_providers_by_slug(api_client):
    # given three providers of an organization and one of another
    owner = make_org_with_key()
    for slug in ("zeta", "alpha", "mid"):
        ProviderFactory(slug=slug, name=slug, org=owner.org)
    ProviderFactory(slug="elsewhere", org=make_org_with_key().org)

    # when the owner lists them two at a time: then its own come once, by slug
    pages = _all_pages(api_client, "/api/v1/providers/", **owner.headers)
    assert [[p["slug"] for p in page] for page in pages] == [["alpha", "mid"], ["zeta"]]
