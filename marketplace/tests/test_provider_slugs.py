"""Provider registration and slugs: an organization cannot take a cloud's slug (the price
syncs attach that cloud's offers, launch requests and buyers to whoever holds it), nor one
that is already taken."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps as django_apps
from django.db import connection

from marketplace.models import Provider, ProviderKind
from marketplace.services import providers as provider_services
from tests.factories import ProviderFactory, make_org_with_key

pytestmark = pytest.mark.django_db


def register(client, owner, slug: str):
    return client.post(
        "/api/v1/providers/",
        {"org": owner.org.slug, "name": "Mine", "slug": slug},
        content_type="application/json",
        **owner.headers,
    )


@pytest.mark.parametrize(
    "slug",
    [
        "lambda",  # a pricing source's own cloud (brokers/sources/lambda_cloud.py)
        "simcloud",  # the simulated cloud's
        "hyperstack",  # a cloud the SkyPilot catalog lists (its default clouds)
        "coreweave",  # a known cloud no source prices yet
        "Lambda",  # the same clouds, written otherwise
        "run_pod",
        "digital-ocean",
    ],
)
def test_it_refuses_a_reserved_cloud_slug(client, slug):
    # given an organization's owner
    owner = make_org_with_key(role="owner")

    # when it registers a provider under a cloud's slug
    response = register(client, owner, slug)

    # then it is refused, and nothing is created
    assert response.status_code == 409, response.content
    assert response.json()["error"]["code"] == "slug_taken"
    assert slug in response.json()["error"]["message"]
    assert not Provider.objects.filter(slug=slug).exists()


def test_it_registers_a_slug_no_cloud_uses(client):
    owner = make_org_with_key(role="owner")

    response = register(client, owner, "acme-lambda-rigs")

    assert response.status_code == 201, response.content
    provider = Provider.objects.get(slug="acme-lambda-rigs")
    assert (provider.org_id, provider.kind) == (owner.org.pk, ProviderKind.LISTED)


def test_it_refuses_a_slug_another_provider_holds(client):
    # given a provider another organization registered
    ProviderFactory(slug="acme-gpus", kind=ProviderKind.LISTED, org=make_org_with_key().org)
    owner = make_org_with_key(role="owner")

    # when another registers the same slug, in any case
    responses = [register(client, owner, slug) for slug in ("acme-gpus", "ACME-gpus")]

    # then both are refused
    assert [r.status_code for r in responses] == [409, 409]
    assert {r.json()["error"]["code"] for r in responses} == {"slug_taken"}
    assert Provider.objects.filter(slug__iexact="acme-gpus").count() == 1


def test_a_slug_taken_between_the_check_and_the_insert_is_409_not_500(client, monkeypatch):
    # given a registration that passed its checks while another took the slug (a race)
    ProviderFactory(slug="racy-gpus", kind=ProviderKind.LISTED, org=make_org_with_key().org)
    monkeypatch.setattr(provider_services, "provider_slug_refusal", lambda slug: None)
    owner = make_org_with_key(role="owner")

    # when the insert meets the unique constraint
    response = register(client, owner, "racy-gpus")

    # then the caller gets the same answer as without the race
    assert response.status_code == 409, response.content
    assert response.json()["error"]["code"] == "slug_taken"
    assert Provider.objects.filter(slug="racy-gpus").count() == 1


def test_the_service_refuses_a_reserved_slug_too():
    owner = make_org_with_key(role="owner")

    with pytest.raises(provider_services.DomainError) as refused:
        provider_services.provider_register(org=owner.org, name="Aws", slug="aws")

    assert refused.value.code == "slug_taken"
    assert not Provider.objects.filter(slug="aws").exists()


def test_the_migration_reports_the_providers_holding_reserved_slugs_and_changes_nothing(
    capsys, caplog
):
    # given an organization's providers registered before slugs were reserved, a cloud
    org = make_org_with_key().org
    squatters = [
        ProviderFactory(slug=slug, kind=ProviderKind.LISTED, org=org)
        for slug in ("Lambda", "acme-gpus", "run-pod")
    ]
    ProviderFactory(slug="aws", kind=ProviderKind.CLOUD)
    migration = importlib.import_module(
        "marketplace.migrations.0016_report_reserved_provider_slugs"
    )

    # when the migration's step runs
    migration.report_reserved_slug_holders(django_apps, connection.schema_editor())

    # then it names the two holding a cloud's slug, and every provider is left as it was
    printed = capsys.readouterr().out
    assert f"provider #{squatters[0].pk} 'Lambda' (kind listed, organization #{org.pk})" in printed
    assert f"provider #{squatters[2].pk} 'run-pod'" in printed
    assert "acme-gpus" not in printed and "'aws'" not in printed
    assert len(caplog.records) == 2
    assert sorted(Provider.objects.values_list("slug", flat=True)) == sorted(
        ["Lambda", "acme-gpus", "run-pod", "aws"]
    )
