"""A price sync writes offers for system providers only (clouds and the simulated cloud).

An organization's listed provider that holds a slug a sync uses (registered before slugs
were reserved, or a cloud a catalog added later) must not receive that cloud's offers, and
with them its launch requests and buyers: the sync skips those rows and reports it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from brokers import registry
from brokers.models import PriceSync
from brokers.services.sync import offers_upkeep, refresh_source
from brokers.sources.base import PricingSource
from marketplace.models import Offer, OfferStatus, Provider, ProviderKind
from marketplace.provider_slugs import is_reserved_slug, reserved_provider_slugs
from tests.factories import OfferFactory, ProviderFactory, make_org_with_key

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
VMS_HEADER = "Region,Price,SpotPrice,InstanceType,GpuInfo,AcceleratorCount,AcceleratorName,vCPUs,MemoryGiB,StorageGiB,AvailabilityZone\n"  # fmt: skip


def listed_provider(slug: str) -> Provider:
    """An organization's provider as it could be registered before slugs were reserved."""
    return ProviderFactory(
        slug=slug, name="Squatter", kind=ProviderKind.LISTED, launcher="listed",
        org=make_org_with_key().org,
    )  # fmt: skip


def skypilot_catalog(tmp_path, clouds: dict[str, list[str]]) -> str:
    for cloud, skus in clouds.items():
        folder = tmp_path / cloud
        folder.mkdir()
        rows = [f"us-east-1,2.50,,{sku},,1,H100,26,200,500,\n" for sku in skus]
        (folder / "vms.csv").write_text(VMS_HEADER + "".join(rows))
    return str(tmp_path)


def test_a_listed_provider_holding_a_sources_slug_gets_none_of_its_offers():
    # given an organization's provider holding the simulated cloud's slug, with an offer
    squatter = listed_provider("simcloud")
    own = OfferFactory(provider=squatter, sku="own.h100", price_per_hour=Decimal("9.000000"))

    # when the simulated cloud's catalog is synced
    sync = refresh_source(source_name="simulated")

    # then no offer was written for it, its own offer is as it was, and the run says why
    assert list(Offer.objects.values_list("sku", flat=True)) == ["own.h100"]
    own.refresh_from_db()
    assert (own.status, own.price_per_hour) == (OfferStatus.ACTIVE, Decimal("9.000000"))
    assert (sync.created, sync.updated, sync.withdrawn, sync.providers) == (0, 0, 0, [])
    assert sync.errors == [
        {
            "where": "provider simcloud",
            "reason": f"the slug belongs to provider #{squatter.pk} of organization "
            f"#{squatter.org_id}, not to a cloud: 15 rows not stored",
        }
    ]
    assert sync.status == "failed"  # nothing stored
    assert Provider.objects.filter(slug="simcloud").count() == 1


def test_a_cloud_a_catalog_adds_later_never_reaches_the_listed_provider_with_its_slug(tmp_path):
    # given a listed provider holding the slug of a cloud the catalog adds later
    squatter = listed_provider("newcloud")
    catalog = skypilot_catalog(tmp_path, {"newcloud": ["n.h100"], "othercloud": ["o.h100"]})

    # when the catalog is synced, twice (the second run finds the files unchanged)
    first = refresh_source(source_name="skypilot-catalog", path=catalog)
    second = refresh_source(source_name="skypilot-catalog", path=catalog)

    # then the other cloud's offers are stored for a system provider, the new cloud's not
    offers = Offer.objects.values_list("sku", "provider__slug", "provider__org")
    assert list(offers) == [("o.h100", "othercloud", None)]
    assert not squatter.offers.exists()
    for sync in (first, second):
        assert sync.providers == ["othercloud"]
        assert [e["where"] for e in sync.errors] == ["provider newcloud"]
        assert sync.errors[0]["reason"].endswith("1 rows not stored")
        assert sync.status == "partial"
    # the input with the conflict is read again each time (whether its rows may be stored
    # depends on the providers, not on the file's bytes)
    statuses = {i["name"]: i["status"] for i in second.inputs}
    assert statuses == {"newcloud/vms.csv": "read", "othercloud/vms.csv": "unchanged"}

    # and once an operator moves the listed provider to another slug, the cloud gets them
    Provider.objects.filter(pk=squatter.pk).update(slug="squatter-renamed")
    third = refresh_source(source_name="skypilot-catalog", path=catalog)
    assert (third.status, third.errors, third.created) == ("succeeded", [], 1)
    new_cloud = Provider.objects.get(slug="newcloud")
    assert (new_cloud.org_id, new_cloud.kind) == (None, ProviderKind.CLOUD)
    assert list(new_cloud.offers.values_list("sku", flat=True)) == ["n.h100"]


def test_the_upkeep_never_ages_a_listed_providers_offers():
    # given a sync record naming a slug that a listed provider holds now (the record is
    # older than the provider), and that provider's offer, seen long ago
    with time_machine.travel(T0, tick=False):
        PriceSync.objects.create(
            source="simulated", started_at=T0, status="succeeded", providers=["acme-gpus"]
        )
        offer = OfferFactory(provider=listed_provider("acme-gpus"), observed_at=T0)

    # when the upkeep ages the offers of every source, a day later
    with time_machine.travel(T0 + timedelta(days=1), tick=False):
        offers_upkeep()

    # then the listed provider's offer is untouched: only its provider's API ages it
    offer.refresh_from_db()
    assert offer.status == OfferStatus.ACTIVE


def test_a_clouds_offers_a_listed_provider_was_given_before_are_withdrawn():
    # given the simulated cloud's offers written while a listed provider held its slug
    refresh_source(source_name="simulated")
    org = make_org_with_key().org
    Provider.objects.filter(slug="simcloud").update(kind=ProviderKind.LISTED, org=org)

    # when the (complete) catalog is synced again, a minute later
    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=1)):
        sync = refresh_source(source_name="simulated")

    # then none of them is listed any more: a buyer can no longer reserve them there
    assert (sync.updated, sync.unchanged, sync.withdrawn) == (0, 0, 15)
    assert set(Offer.objects.values_list("status", flat=True)) == {OfferStatus.WITHDRAWN}


class FutureCloudSource(PricingSource):
    name = "future-cloud"
    provider_slug = "future-cloud"


def test_the_reserved_slugs_come_from_the_sources_themselves(monkeypatch):
    # given a pricing source added to the registry
    sources = registry._sources()
    monkeypatch.setattr(registry, "_sources", lambda: {**sources, "future": FutureCloudSource})

    # then its slug, and those of every other source, are reserved for system providers
    reserved = reserved_provider_slugs()
    assert "future-cloud" in reserved
    assert {"aws", "azure", "lambda", "runpod", "vast", "simcloud"} <= reserved
    assert {"hyperstack", "primeintellect", "lambdalabs", "vastai"} <= reserved  # catalogs'
    assert is_reserved_slug("Future_Cloud")
