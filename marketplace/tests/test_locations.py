"""Region strings to country and continent: table-driven, plus every region in the shared
SkyPilot catalog."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from marketplace.locations import CONTINENT_OF_COUNTRY, CONTINENTS, Location, locate

SHARED_CATALOG = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "skypilot-catalog-v8"
)

# Region values in the shared files that name no place.
PLACELESS_REGIONS = {"default", "earth"}


@pytest.mark.parametrize(
    "region, country, continent",
    [
        # AWS regions, availability zones and zone ids
        ("us-east-1", "US", "NA"),
        ("ap-northeast-1", "JP", "AS"),
        ("eu-central-1", "DE", "EU"),
        ("eu-north-1", "SE", "EU"),
        ("us-east-1a", "US", "NA"),
        ("use1-az4", "US", "NA"),
        ("use1-atl2-az1", "US", "NA"),  # a local zone
        ("apne2-az1", "KR", "AS"),
        ("euw2-az3", "GB", "EU"),
        ("aps1-az2", "IN", "AS"),
        ("apse3-az1", "ID", "AS"),
        # GCP regions and zones
        ("europe-west4", "NL", "EU"),
        ("us-central1-a", "US", "NA"),
        ("asia-east1", "TW", "AS"),
        ("southamerica-east1-b", "BR", "SA"),
        ("us-south1-ai1b", "US", "NA"),
        ("us-central2-b", "US", "NA"),  # mithril uses GCP-style names
        # Azure
        ("eastus", "US", "NA"),
        ("westeurope", "NL", "EU"),
        ("northeurope", "IE", "EU"),
        ("japaneast", "JP", "AS"),
        # OCI regions and availability domains
        ("af-casablanca-1", "MA", "AF"),
        ("AF-CASABLANCA-1-AD-1", "MA", "AF"),
        ("us-ashburn-1", "US", "NA"),
        ("eu-frankfurt-1", "DE", "EU"),
        ("sa-saopaulo-1", "BR", "SA"),
        ("uk-london-1", "GB", "EU"),
        # Lambda
        ("europe-central-1", "DE", "EU"),
        ("asia-south-1", "IN", "AS"),
        ("me-west-1", "IL", "AS"),
        ("us-midwest-1", "US", "NA"),
        ("australia-east-1", "AU", "OC"),
        ("europe-south-1", "", "EU"),  # Europe for sure, country not published
        # Nebius
        ("eu-north1", "FI", "EU"),
        ("eu-west1", "FR", "EU"),
        ("us-central1", "US", "NA"),
        # vast free text: the country code wins, its continent follows
        ("Texas, US, NA", "US", "NA"),
        ("France, FR, EU", "FR", "EU"),
        (", CN, AS", "CN", "AS"),
        ("Hafnarfjarðarkaupstaður, IS, EU", "IS", "EU"),
        ("Somewhere, ZZ, OC", "", "OC"),
        # cudo, hyperstack, jarvislabs, RunPod data centres, yotta
        ("ca-montreal-3", "CA", "NA"),
        ("no-kristiansand-1", "NO", "EU"),
        ("us-carlsbad-1", "US", "NA"),
        ("CANADA-1", "CA", "NA"),
        ("NORWAY-1", "NO", "EU"),
        ("US-1", "US", "NA"),
        ("IN2", "IN", "AS"),
        ("EU-CZ-1", "CZ", "EU"),
        ("US-CA-1", "US", "NA"),  # California, not Canada
        ("CA-MTL-1", "CA", "NA"),
        ("EUR-IS-1", "IS", "EU"),
        ("OC-AU-1", "AU", "OC"),
        ("us-central-2", "US", "NA"),
        # country codes and continents
        ("AU", "AU", "OC"),
        ("FI", "FI", "EU"),
        ("US", "US", "NA"),
        ("us", "US", "NA"),
        ("eu", "", "EU"),
        ("sa-east-9", "", "SA"),  # "sa-" is South America, not Saudi Arabia
        # nothing to know
        ("", "", ""),
        ("default", "", ""),
        ("earth", "", ""),
        ("mars-north-1", "", ""),
    ],
)
def test_it_locates_regions(region, country, continent):
    assert locate(region) == Location(country, continent)


def test_every_country_has_one_continent():
    assert set(CONTINENT_OF_COUNTRY.values()) == set(CONTINENTS)
    assert len(CONTINENT_OF_COUNTRY) >= 245


def _shared_regions() -> list[str]:
    if not SHARED_CATALOG.is_dir():
        return []
    values: set[str] = set()
    for path in SHARED_CATALOG.glob("*/vms.csv"):
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                values.add(row.get("Region", ""))
                values.add(row.get("AvailabilityZone") or "")
    return sorted(values - {""})


@pytest.mark.skipif(not SHARED_CATALOG.is_dir(), reason="shared SkyPilot catalog not present")
@pytest.mark.parametrize("region", _shared_regions() or ["<none>"])
def test_every_region_in_the_shared_catalog_has_a_continent(region):
    place = locate(region)

    if region in PLACELESS_REGIONS:
        assert place == Location("", "")
    else:
        assert place.continent in CONTINENTS, region
        assert place.country == "" or CONTINENT_OF_COUNTRY[place.country] == place.continent
