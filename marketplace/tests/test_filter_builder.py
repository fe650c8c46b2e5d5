"""The offers page's filter builder: the text it writes from its fields, the fields it reads
back from a filter, and that what it writes picks the offers it says (PostgreSQL)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from marketplace.forms import FilterBuilderForm
from marketplace.models import GpuModel
from marketplace.search import clear_catalog_cache, parse_query
from marketplace.search.ast import And
from marketplace.search.builder import BuilderError, build_query, builder_fields
from marketplace.selectors.catalog import offer_search
from marketplace.tests.builder_cases import REFUSED, WRITTEN
from tests.factories import OfferFactory, ProviderFactory


@pytest.mark.parametrize(("fields", "expected"), WRITTEN)
def test_it_writes_the_filter_the_fields_describe(fields, expected):
    assert build_query(fields) == expected


@pytest.mark.parametrize(("fields", "expected"), WRITTEN)
def test_what_it_writes_parses(fields, expected):
    parse_query(build_query(fields))


@pytest.mark.parametrize(("fields", "errors"), REFUSED)
def test_it_refuses_each_field_it_cannot_write_with_a_message_at_it(fields, errors):
    with pytest.raises(BuilderError) as refused:
        build_query(fields)
    assert refused.value.errors == errors


def test_it_refuses_values_no_select_offers():
    with pytest.raises(BuilderError) as refused:
        build_query(
            {"gpu": "H1000", "continent": "Atlantis", "pricing": "free", "price_per": "day"}
        )
    assert refused.value.errors == {
        "gpu": "Unknown GPU 'H1000'.",
        "continent": "'Atlantis' is not one of AF, AN, AS, EU, NA, OC, SA.",
        "pricing": "'free' is not one of on_demand, spot, reserved.",
        "price_per": "Choose per GPU-hour or per hour.",
    }


def test_every_gpu_the_form_offers_is_written_and_read_back():
    names = [name for _, group in FilterBuilderForm.base_fields["gpu"].widget.choices[1:]
             for name, _ in group]  # fmt: skip
    assert "H100" in names and "MI300X" in names and len(names) == len(set(names))
    for name in names:
        assert builder_fields(build_query({"gpu": name})) == {"gpu": name}


@pytest.mark.parametrize(("fields", "expected"), [case for case in WRITTEN if case[1]])
def test_it_reads_its_own_filter_back_into_the_same_filter(fields, expected):
    # the same tree: the parser folds a region's case (regions compare case-insensitively)
    assert parse_query(build_query(builder_fields(expected))) == parse_query(expected)


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("", {}),
        ("gpu=H100 gpus>=8", {"gpu": "H100", "gpus": "8"}),
        # aliases, Vast.ai's names and units are read as what they mean
        (
            "num_gpus>=2 gpu_name=RTX_4090 dph<=1.50 gpu_ram>=24576MiB",
            {"gpus": "2", "gpu": "RTX4090", "max_price": "1.5", "price_per": "hour", "vram": "24"},
        ),
        ("continent=europe pricing=interruptible", {"continent": "EU", "pricing": "spot"}),
        ("region=EU-*", {"region": "eu-*"}),
        ('region="Texas, US"', {"region": "texas, us"}),
        # what the fields cannot say is kept, in the parser's normal form
        ("gpus>=8 observed<1h gpu=A100", {"gpus": "8", "gpu": "A100", "keep": "observed<1h"}),
        ("gpu=H100 gpu=A100", {"gpu": "H100", "keep": "gpu=A100"}),
        ("gpus>4 gpus>=0 vram>=100MiB", {"keep": "gpus>4 gpus>=0 vram>=0.09765625"}),
        ("gpu=H100 or gpu=A100", {"keep": "(gpu=H100 or gpu=A100)"}),
        ("gpu=H100 (gpu=A100 or gpus>=8)", {"gpu": "H100", "keep": "(gpu=A100 or gpus>=8)"}),
        ("not pricing=spot gpu in [H100]", {"keep": "not pricing=spot gpu in [H100]"}),
        ("gpu=RTX_40* price<=9 gpu_price<=2", {"max_price": "9", "price_per": "hour",
                                               "keep": "gpu=RTX_40* gpu_price<=2"}),
        # a filter that does not parse is kept as typed
        ("colour=red gpu=H100", {"keep": "colour=red gpu=H100"}),
    ],
)  # fmt: skip
def test_it_reads_a_filter_back_into_its_fields(query, fields):
    assert builder_fields(query) == fields


@pytest.mark.parametrize(
    "query",
    [
        "gpu=H100 or gpu=A100",
        "pricing=spot (gpu=L4 or gpus>=8) observed<1d",
        "not continent=EU gpu=A100 gpu_price<=2",
    ],
)
def test_building_again_from_what_it_read_keeps_the_meaning(query):
    rebuilt = build_query(builder_fields(query))
    assert set(_conjuncts(parse_query(rebuilt))) == set(_conjuncts(parse_query(query)))


def _conjuncts(tree):
    return tree.children if isinstance(tree, And) else (tree,)


# --- what the built filters find ---------------------------------------------------------


@pytest.fixture
def offers(db):
    """Four offers that differ in GPU, count, memory, place, pricing and price."""
    clear_catalog_cache()
    provider = ProviderFactory()
    rows = {
        "h100x8-eu": dict(gpu=GpuModel.objects.get(name="H100", memory_gb=80), gpu_count=8,
                          region="eu-west-1", continent="EU", price_per_hour=Decimal("24")),
        "a100x4-eu-spot": dict(gpu=GpuModel.objects.get(name="A100", memory_gb=80), gpu_count=4,
                               region="eu-central-1", continent="EU", pricing="spot",
                               price_per_hour=Decimal("7.2")),
        "l4x1-us": dict(gpu=GpuModel.objects.get(name="L4"), gpu_count=1,
                        gpu_memory_gb=Decimal(24), region="us-east-1", continent="NA",
                        price_per_hour=Decimal("0.8")),
        "4090x2-tx-spot": dict(gpu=GpuModel.objects.get(name="RTX4090"), gpu_count=2,
                               gpu_memory_gb=Decimal(24), region="Texas, US", continent="NA",
                               pricing="spot", price_per_hour=Decimal("0.7")),
    }  # fmt: skip
    now = timezone.now()
    for sku, row in rows.items():
        OfferFactory(provider=provider, sku=sku, observed_at=now, **row)
    yield
    clear_catalog_cache()


# (fields, the offers they pick: worked out from the fixture by hand)
FOUND = [
    ({"gpu": "H100"}, {"h100x8-eu"}),
    ({"gpus": "4"}, {"h100x8-eu", "a100x4-eu-spot"}),
    ({"vram": "48"}, {"h100x8-eu", "a100x4-eu-spot"}),
    ({"continent": "EU", "pricing": "spot"}, {"a100x4-eu-spot"}),
    ({"region": "eu-*"}, {"h100x8-eu", "a100x4-eu-spot"}),
    ({"region": "texas, us"}, {"4090x2-tx-spot"}),
    # per GPU-hour: 3, 1.8, 0.8, 0.35
    (
        {"max_price": "1.8", "price_per": "gpu_hour"},
        {"a100x4-eu-spot", "l4x1-us", "4090x2-tx-spot"},
    ),
    # per hour: 24, 7.2, 0.8, 0.7
    ({"max_price": "0.8", "price_per": "hour"}, {"l4x1-us", "4090x2-tx-spot"}),
    ({"gpu": "RTX4090", "pricing": "spot", "max_price": "0.35"}, {"4090x2-tx-spot"}),
    ({"continent": "NA", "keep": "gpus<=1"}, {"l4x1-us"}),
    ({"gpu": "A100", "pricing": "on_demand"}, set()),
    ({}, {"h100x8-eu", "a100x4-eu-spot", "l4x1-us", "4090x2-tx-spot"}),
]


@pytest.mark.parametrize(("fields", "skus"), FOUND)
def test_each_built_filter_finds_the_offers_it_says(offers, fields, skus):
    search = offer_search(query=build_query(fields), sort="")
    assert {offer.sku for offer in search.queryset} == skus


def test_what_the_documentation_says_of_the_builder_holds():
    # docs/filter-language.md, "The offers page's filter builder"
    read = builder_fields("gpu=H100 pricing=spot observed<1h")
    assert read == {"gpu": "H100", "pricing": "spot", "keep": "observed<1h"}
    assert (
        build_query(read | {"continent": "EU"}) == "gpu=H100 continent=EU pricing=spot observed<1h"
    )
    assert build_query({"vram": "040.50"}) == "vram>=40.5GB"
    assert builder_fields("num_gpus>=2 dph<=1.5") == {
        "gpus": "2",
        "max_price": "1.5",
        "price_per": "hour",
    }
