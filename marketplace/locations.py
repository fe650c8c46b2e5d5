"""Where an offer runs: provider region strings to ISO 3166 country and continent codes.

`locate("us-east-1")` -> Location("US", "NA"). Handles cloud regions and zones (AWS, GCP,
Azure, OCI, Lambda, Nebius, RunPod data centres), AWS zone ids (`use1-az4`), vast's free
text (`"Texas, US, NA"`), `<country>-<city>-<n>` names (cudo, OCI), bare country codes and
country names. Unknown places come back as ("", ""), never as a guess. Pure Python.
"""

from __future__ import annotations

import re
from typing import NamedTuple

CONTINENTS = ("AF", "AN", "AS", "EU", "NA", "OC", "SA")
CONTINENT_NAMES = {
    "AF": "Africa",
    "AN": "Antarctica",
    "AS": "Asia",
    "EU": "Europe",
    "NA": "North America",
    "OC": "Oceania",
    "SA": "South America",
}

# ISO 3166-1 alpha-2 by continent. Cyprus sits with Europe (an EU member: that is what a
# buyer filtering on "EU" means), Turkey, Russia and the Caucasus as is usual for clouds.
_COUNTRIES_BY_CONTINENT = {
    "AF": "AO BF BI BJ BW CD CF CG CI CM CV DJ DZ EG EH ER ET GA GH GM GN GQ GW KE KM LR LS LY "
    "MA MG ML MR MU MW MZ NA NE NG RE RW SC SD SH SL SN SO SS ST SZ TD TG TN TZ UG YT ZA ZM ZW",
    "AN": "AQ BV GS HM TF",
    "AS": "AE AF AM AZ BD BH BN BT CC CN CX GE HK ID IL IN IO IQ IR JO JP KG KH KP KR KW KZ LA "
    "LB LK MM MN MO MV MY NP OM PH PK PS QA SA SG SY TH TJ TL TM TR TW UZ VN YE",
    "EU": "AD AL AT AX BA BE BG BY CH CY CZ DE DK EE ES FI FO FR GB GG GI GR HR HU IE IM IS IT "
    "JE LI LT LU LV MC MD ME MK MT NL NO PL PT RO RS RU SE SI SJ SK SM UA VA XK",
    "NA": "AG AI AW BB BL BM BQ BS BZ CA CR CU CW DM DO GD GL GP GT HN HT JM KN KY LC MF MQ MS "
    "MX NI PA PM PR SV SX TC TT UM US VC VG VI",
    "OC": "AS AU CK FJ FM GU KI MH MP NC NF NR NU NZ PF PG PN PW SB TK TO TV VU WF WS",
    "SA": "AR BO BR CL CO EC FK GF GY PE PY SR UY VE",
}
CONTINENT_OF_COUNTRY = {
    country: continent
    for continent, countries in _COUNTRIES_BY_CONTINENT.items()
    for country in countries.split()
}
_COUNTRY_ALIASES = {"UK": "GB", "EL": "GR"}  # spellings some providers use for GB and GR


class Location(NamedTuple):
    country: str  # ISO 3166-1 alpha-2, "" when unknown
    continent: str  # AF AN AS EU NA OC SA, "" when unknown


UNKNOWN = Location("", "")

# Named regions and data centres -> country. Keys are lower case.
_REGION_COUNTRY = {
    # AWS
    "us-east-1": "US", "us-east-2": "US", "us-west-1": "US", "us-west-2": "US",
    "us-gov-east-1": "US", "us-gov-west-1": "US", "ca-central-1": "CA", "ca-west-1": "CA",
    "mx-central-1": "MX", "sa-east-1": "BR", "eu-central-1": "DE", "eu-central-2": "CH",
    "eu-west-1": "IE", "eu-west-2": "GB", "eu-west-3": "FR", "eu-north-1": "SE",
    "eu-south-1": "IT", "eu-south-2": "ES", "af-south-1": "ZA", "me-south-1": "BH",
    "me-central-1": "AE", "il-central-1": "IL", "ap-east-1": "HK", "ap-east-2": "TW",
    "ap-south-1": "IN", "ap-south-2": "IN", "ap-northeast-1": "JP", "ap-northeast-2": "KR",
    "ap-northeast-3": "JP", "ap-southeast-1": "SG", "ap-southeast-2": "AU",
    "ap-southeast-3": "ID", "ap-southeast-4": "AU", "ap-southeast-5": "MY",
    "ap-southeast-7": "TH", "cn-north-1": "CN", "cn-northwest-1": "CN",
    # GCP
    "africa-south1": "ZA", "asia-east1": "TW", "asia-east2": "HK", "asia-northeast1": "JP",
    "asia-northeast2": "JP", "asia-northeast3": "KR", "asia-south1": "IN", "asia-south2": "IN",
    "asia-southeast1": "SG", "asia-southeast2": "ID", "asia-southeast3": "TH",
    "australia-southeast1": "AU", "australia-southeast2": "AU", "europe-central2": "PL",
    "europe-north1": "FI", "europe-north2": "SE", "europe-southwest1": "ES",
    "europe-west1": "BE", "europe-west2": "GB", "europe-west3": "DE", "europe-west4": "NL",
    "europe-west6": "CH", "europe-west8": "IT", "europe-west9": "FR", "europe-west10": "DE",
    "europe-west12": "IT", "me-central1": "QA", "me-central2": "SA", "me-west1": "IL",
    "northamerica-northeast1": "CA", "northamerica-northeast2": "CA",
    "northamerica-south1": "MX", "southamerica-east1": "BR", "southamerica-west1": "CL",
    "us-central1": "US", "us-central2": "US", "us-east1": "US", "us-east4": "US",
    "us-east5": "US", "us-east7": "US", "us-south1": "US", "us-west1": "US", "us-west2": "US",
    "us-west3": "US", "us-west4": "US", "us-west8": "US",
    # Azure (armRegionName)
    "eastus": "US", "eastus2": "US", "eastus3": "US", "westus": "US", "westus2": "US",
    "westus3": "US", "centralus": "US", "northcentralus": "US", "southcentralus": "US",
    "westcentralus": "US", "canadacentral": "CA", "canadaeast": "CA", "mexicocentral": "MX",
    "brazilsouth": "BR", "brazilsoutheast": "BR", "chilecentral": "CL",
    "northeurope": "IE", "westeurope": "NL", "uksouth": "GB", "ukwest": "GB",
    "francecentral": "FR", "francesouth": "FR", "germanywestcentral": "DE",
    "germanynorth": "DE", "switzerlandnorth": "CH", "switzerlandwest": "CH",
    "norwayeast": "NO", "norwaywest": "NO", "swedencentral": "SE", "swedensouth": "SE",
    "polandcentral": "PL", "italynorth": "IT", "spaincentral": "ES", "austriaeast": "AT",
    "belgiumcentral": "BE", "denmarkeast": "DK", "eastasia": "HK", "southeastasia": "SG",
    "japaneast": "JP", "japanwest": "JP", "koreacentral": "KR", "koreasouth": "KR",
    "australiaeast": "AU", "australiasoutheast": "AU", "australiacentral": "AU",
    "australiacentral2": "AU", "newzealandnorth": "NZ", "centralindia": "IN",
    "southindia": "IN", "westindia": "IN", "jioindiawest": "IN", "jioindiacentral": "IN",
    "indonesiacentral": "ID", "malaysiawest": "MY", "uaenorth": "AE", "uaecentral": "AE",
    "qatarcentral": "QA", "israelcentral": "IL", "southafricanorth": "ZA",
    "southafricawest": "ZA",
    # Lambda Cloud
    "us-south-1": "US", "us-south-2": "US", "us-south-3": "US", "us-midwest-1": "US",
    "us-east-3": "US", "us-west-3": "US", "europe-central-1": "DE", "asia-south-1": "IN",
    "asia-northeast-1": "JP", "asia-northeast-2": "KR", "me-west-1": "IL",
    "australia-east-1": "AU",
    # Nebius
    "eu-north1": "FI", "eu-north2": "IS", "eu-west1": "FR", "uk-south1": "GB",
}  # fmt: skip

# City names in `<prefix>-<city>-<n>` regions (OCI, cudo) -> country.
_CITY_COUNTRY = {
    "ashburn": "US", "phoenix": "US", "sanjose": "US", "chicago": "US", "carlsbad": "US",
    "newyork": "US", "dallas": "US", "toronto": "CA", "montreal": "CA", "saopaulo": "BR",
    "vinhedo": "BR", "santiago": "CL", "valparaiso": "CL", "bogota": "CO", "queretaro": "MX",
    "monterrey": "MX", "frankfurt": "DE", "amsterdam": "NL", "zurich": "CH", "madrid": "ES",
    "marseille": "FR", "paris": "FR", "milan": "IT", "stockholm": "SE", "jovanovac": "RS",
    "london": "GB", "cardiff": "GB", "kristiansand": "NO", "oslo": "NO", "jeddah": "SA",
    "riyadh": "SA", "dubai": "AE", "abudhabi": "AE", "jerusalem": "IL", "johannesburg": "ZA",
    "casablanca": "MA", "tokyo": "JP", "osaka": "JP", "seoul": "KR", "chuncheon": "KR",
    "mumbai": "IN", "hyderabad": "IN", "singapore": "SG", "sydney": "AU", "melbourne": "AU",
    "batam": "ID", "helsinki": "FI", "reykjavik": "IS", "warsaw": "PL", "manchester": "GB",
}  # fmt: skip

# English country names some providers use ("CANADA-1", "Norway").
_COUNTRY_NAMES = {
    "canada": "CA", "norway": "NO", "iceland": "IS", "finland": "FI", "sweden": "SE",
    "germany": "DE", "france": "FR", "netherlands": "NL", "belgium": "BE", "ireland": "IE",
    "spain": "ES", "portugal": "PT", "italy": "IT", "poland": "PL", "switzerland": "CH",
    "austria": "AT", "denmark": "DK", "czechia": "CZ", "romania": "RO", "bulgaria": "BG",
    "unitedkingdom": "GB", "unitedstates": "US", "usa": "US", "japan": "JP", "korea": "KR",
    "southkorea": "KR", "india": "IN", "singapore": "SG", "taiwan": "TW", "hongkong": "HK",
    "australia": "AU", "newzealand": "NZ", "brazil": "BR", "mexico": "MX", "israel": "IL",
    "thailand": "TH", "vietnam": "VN", "china": "CN",
}  # fmt: skip

# Leading words of region names that say only the continent ("europe-south-1").
_CONTINENT_PREFIXES = {
    "europe": "EU", "eu": "EU", "eur": "EU", "asia": "AS", "ap": "AS", "sea": "AS",
    "me": "AS", "australia": "OC", "oc": "OC", "northamerica": "NA", "na": "NA",
    "southamerica": "SA", "sa": "SA", "africa": "AF", "af": "AF",
}  # fmt: skip

# AWS zone ids (`use1-az4`) start with a short form of their region (`use1` -> us-east-1).
_AWS_ZONE_ID = re.compile(r"([a-z]+)(\d+)(?:-[a-z0-9]+)*-az\d+")
_AWS_ZONE_ID_PREFIXES = {
    "use": "us-east", "usw": "us-west", "usge": "us-gov-east", "usgw": "us-gov-west",
    "cac": "ca-central", "caw": "ca-west", "mxc": "mx-central", "sae": "sa-east",
    "euc": "eu-central", "euw": "eu-west", "eun": "eu-north", "eus": "eu-south",
    "afs": "af-south", "mes": "me-south", "mec": "me-central", "ilc": "il-central",
    "ape": "ap-east", "aps": "ap-south", "apne": "ap-northeast", "apse": "ap-southeast",
    "cnn": "cn-north", "cnnw": "cn-northwest",
}  # fmt: skip
_PREFIX_PLACE_NUMBER = re.compile(r"([a-z]+)-([a-z]+)-\d+")
_COUNTRY_AND_NUMBER = re.compile(r"([a-z]{2})-?\d+")
_ZONE_SUFFIXES = (re.compile(r"-ad-\d+$"), re.compile(r"(?<=\d)[a-z]$"), re.compile(r"-[a-z0-9]+$"))


def locate(region: str) -> Location:
    """Country and continent of a provider's region, zone or location text."""
    text = (region or "").strip()
    if not text:
        return UNKNOWN
    if "," in text:
        return _from_free_text(text)
    key = text.lower()
    for finder in (_named_region, _aws_zone_id, _country_code, _prefixed_place, _zone_of_region):
        if (place := finder(key)) is not None:
            return place
    return _continent_prefix(key)


def country_location(code: str) -> Location:
    """Location of an ISO country code ("us" works too), UNKNOWN if it is not one."""
    country = _COUNTRY_ALIASES.get(code.upper(), code.upper())
    continent = CONTINENT_OF_COUNTRY.get(country)
    return Location(country, continent) if continent else UNKNOWN


def _from_free_text(text: str) -> Location:
    """vast: "State, CC, Continent" (or ", CC, AS"): the 2-letter token before the last."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    continent = parts[-1].upper() if parts and parts[-1].upper() in CONTINENTS else ""
    country_parts = parts[:-1] if continent else parts
    for part in reversed(country_parts):
        if len(part) == 2 and (place := country_location(part)) != UNKNOWN:
            return place
    for part in country_parts:
        if (country := _COUNTRY_NAMES.get(_squash(part))) is not None:
            return country_location(country)
    return Location("", continent)


def _named_region(key: str) -> Location | None:
    if (country := _REGION_COUNTRY.get(key)) is not None:
        return country_location(country)
    if (country := _COUNTRY_NAMES.get(_squash(re.sub(r"-\d+$", "", key)))) is not None:
        return country_location(country)  # hyperstack "CANADA-1", "NORWAY-1"
    return None


def _aws_zone_id(key: str) -> Location | None:
    match = _AWS_ZONE_ID.fullmatch(key)
    if not match or match.group(1) not in _AWS_ZONE_ID_PREFIXES:
        return None
    return _named_region(f"{_AWS_ZONE_ID_PREFIXES[match.group(1)]}-{match.group(2)}")


def _country_code(key: str) -> Location | None:
    """ "AU", "us", "IN1" (jarvislabs), "US-1" (hyperstack); "eu" is a continent."""
    if key in ("eu", "europe"):
        return Location("", "EU")
    match = _COUNTRY_AND_NUMBER.fullmatch(key)
    code = key if len(key) == 2 else (match.group(1) if match else "")
    place = country_location(code) if code else UNKNOWN
    return place if place != UNKNOWN else None


def _prefixed_place(key: str) -> Location | None:
    """`<prefix>-<place>-<n>`: cudo "ca-montreal-3", OCI "af-casablanca-1", RunPod
    "EU-CZ-1" / "US-TX-1" / "CA-MTL-1" (a US state is not a country: "US-CA-1" is the US)."""
    match = _PREFIX_PLACE_NUMBER.fullmatch(key)
    if not match:
        return None
    prefix, place = match.groups()
    if prefix in ("us", "usa"):
        return country_location("US")
    if (country := _CITY_COUNTRY.get(place)) is not None:
        return country_location(country)
    if prefix in _CONTINENT_PREFIXES and len(place) == 2:
        located = country_location(place)
        if located != UNKNOWN:
            return located
    if prefix in _CONTINENT_PREFIXES:  # "sa-" is South America, not Saudi Arabia
        return None
    located = country_location(prefix) if len(prefix) == 2 else UNKNOWN
    return located if located != UNKNOWN else None


def _zone_of_region(key: str) -> Location | None:
    """Zones and availability domains of a known region: "us-central1-a", "us-east-1a",
    "af-casablanca-1-ad-1", "us-south1-ai1b"."""
    for suffix in _ZONE_SUFFIXES:
        region = suffix.sub("", key)
        if region != key and (place := _named_region(region) or _prefixed_place(region)):
            return place
    return None


def _continent_prefix(key: str) -> Location:
    head = re.split(r"[-_\s]", key, maxsplit=1)[0]
    if head in ("us", "usa"):
        return country_location("US")
    return Location("", _CONTINENT_PREFIXES.get(head, ""))


def _squash(text: str) -> str:
    return re.sub(r"[^a-z]", "", text.lower())
