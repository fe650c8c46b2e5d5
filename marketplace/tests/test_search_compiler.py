"""Filter text -> Q objects, against a fixed in-memory catalog (Q objects compare by value)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.db.models.lookups import (
    Contains,
    EndsWith,
    Exact,
    GreaterThanOrEqual,
    In,
    Regex,
    StartsWith,
)

from marketplace.search import compile_filter, compile_query
from marketplace.search.ast import MATCH_ALL
from marketplace.search.compiler import TOTAL_VRAM, match_nothing

from .search_fakes import (
    A100_40,
    A100_80,
    AWS,
    B200,
    CATALOG,
    H100_80,
    H100_NVL,
    LAMBDA,
    LAMBDA_EU,
    MI300X,
    NOW,
    RTX3090,
    RTX4090,
)

NVIDIA = sorted({H100_80, H100_NVL, A100_40, A100_80, RTX4090, RTX3090, B200})

EXPECTED = [
    # numbers on columns
    ("gpus>=4", Q(gpu_count__gte=4)),
    ("gpus<4", Q(gpu_count__lt=4)),
    ("gpus=8", Q(gpu_count=8)),
    ("gpus!=8", ~Q(gpu_count=8)),
    ("gpus in [4,8]", Q(gpu_count__in=[4, 8])),
    ("gpus notin [4,8]", ~Q(gpu_count__in=[4, 8])),
    ("vram>=80GB", Q(gpu_memory_gb__gte=Decimal(80))),
    ("ram>=512GiB", Q(memory_gb__gte=Decimal(512))),
    ("disk>=1TB", Q(disk_gb__gte=Decimal(1000))),
    ("vcpus>=32", Q(vcpus__gte=Decimal(32))),
    ("price<=3.5/h", Q(price_per_hour__lte=Decimal("3.5"))),
    ("gpu_price<2", Q(price_per_gpu_hour__lt=Decimal(2))),
    ("available>0", Q(available__gt=0)),
    ("reliability>=99%", Q(reliability__gte=Decimal("0.99"))),
    # repeating a field intersects its bounds
    (
        "price>0.2 price<0.5",
        Q(price_per_hour__gt=Decimal("0.2"), price_per_hour__lt=Decimal("0.5")),
    ),
    # an expression, not a join or an annotation
    ("total_vram>=640", Q(GreaterThanOrEqual(F("gpu_count") * F("gpu_memory_gb"), Decimal(640)))),
    ("total_vram in [640,1280]", Q(In(TOTAL_VRAM, [Decimal(640), Decimal(1280)]))),
    # ages
    ("observed<1h", Q(observed_at__gt=NOW - timedelta(hours=1))),
    ("observed<=30m", Q(observed_at__gte=NOW - timedelta(minutes=30))),
    ("observed>2d", Q(observed_at__lt=NOW - timedelta(days=2))),
    ("observed>=10s", Q(observed_at__lte=NOW - timedelta(seconds=10))),
    # choices, booleans, codes
    ("pricing=spot", Q(pricing="spot")),
    ("pricing in [spot, reserved]", Q(pricing__in=["spot", "reserved"])),
    ("status=withdrawn", Q(status="withdrawn")),
    ("continent=europe", Q(continent="EU")),
    ("country in [us,ca]", Q(country__in=["US", "CA"])),
    ("suspect=false", Q(suspect=False)),
    ("suspect!=true", ~Q(suspect=True)),
    ("currency=usd", Q(currency="USD")),
    # free text compares case-insensitively; wildcards become LIKE or a regex
    ("region=US-East-1", Q(Exact(Lower(F("region")), "us-east-1"))),
    ("region in [a, b]", Q(In(Lower(F("region")), ["a", "b"]))),
    ("region=eu-*", Q(StartsWith(Lower(F("region")), "eu-"))),
    ("region!=eu-*", ~Q(StartsWith(Lower(F("region")), "eu-"))),
    (
        "region in [eu-*, us-east-1]",
        Q(In(Lower(F("region")), ["us-east-1"])) | Q(StartsWith(Lower(F("region")), "eu-")),
    ),
    ("zone=*-1a", Q(EndsWith(Lower(F("zone")), "-1a"))),
    ("zone=*west*", Q(Contains(Lower(F("zone")), "west"))),
    ("zone=us-*-1", Q(Regex(Lower(F("zone")), r"^us\-.*\-1$"))),
    ("interconnect=SXM", Q(Exact(Lower(F("interconnect")), "sxm"))),
    # GPU attributes resolve to ids: no join
    ("gpu=H100", Q(gpu_id__in=[H100_80])),
    ("gpu=h100-sxm", Q(gpu_id__in=[H100_80])),
    ("gpu=A100", Q(gpu_id__in=[A100_40, A100_80])),
    ("gpu in [H100, A100]", Q(gpu_id__in=[H100_80, A100_40, A100_80])),
    ("gpu!=A100", ~Q(gpu_id__in=[A100_40, A100_80])),
    ("gpu=H100*", Q(gpu_id__in=[H100_80, H100_NVL])),
    ("gpu=RTX_40*", Q(gpu_id__in=[RTX4090])),
    ("gpu=rtx*90", Q(gpu_id__in=[RTX4090, RTX3090])),
    ("gpu=L40S", Q(gpu_id__in=[])),  # canonical, but no such row in this catalog
    ("gpu_vendor=amd", Q(gpu_id__in=[MI300X])),
    ("gpu_vendor in [nvidia]", Q(gpu_id__in=NVIDIA)),
    ("compute_cap>=9.0", Q(gpu_id__in=[H100_80, H100_NVL, B200])),
    ("compute_cap>=900", Q(gpu_id__in=[H100_80, H100_NVL, B200])),
    ("compute_cap<8.6", Q(gpu_id__in=[A100_40, A100_80])),
    ("compute_cap=8.9", Q(gpu_id__in=[RTX4090])),
    ("compute_cap in [8.6, 8.9]", Q(gpu_id__in=[RTX4090, RTX3090])),
    ("compute_cap!=9.0", ~Q(gpu_id__in=[H100_80, H100_NVL])),
    # providers likewise
    ("provider=aws", Q(provider_id__in=[AWS])),
    ("provider=LAMBDA", Q(provider_id__in=[LAMBDA])),
    ("provider=lambda*", Q(provider_id__in=[LAMBDA, LAMBDA_EU])),
    ("provider notin [aws, lambda]", ~Q(provider_id__in=[AWS, LAMBDA])),
    ("provider=nobody", Q(provider_id__in=[])),
    # structure
    ("", Q()),
    ("gpus>=4 price<2", Q(gpu_count__gte=4) & Q(price_per_hour__lt=Decimal(2))),
    ("gpus>=4 or price<2", Q(gpu_count__gte=4) | Q(price_per_hour__lt=Decimal(2))),
    ("not gpus>=4", ~Q(gpu_count__gte=4)),
    (
        "gpu=H100 (region=eu-* or price<2)",
        Q(gpu_id__in=[H100_80])
        & (Q(StartsWith(Lower(F("region")), "eu-")) | Q(price_per_hour__lt=Decimal(2))),
    ),
    # any: no filter; and its negation, no rows
    ("gpu=any", Q()),
    ("gpu=any gpus>=4", Q(gpu_count__gte=4)),
    ("gpu=any or gpus>=4", Q()),
    ("not gpu=any", match_nothing()),
    ("not gpu=any or gpus>=4", match_nothing() | Q(gpu_count__gte=4)),
]


@pytest.mark.parametrize(("query", "expected"), EXPECTED)
def test_it_compiles(query, expected):
    assert compile_filter(query, resolver=CATALOG, now=NOW).q == expected


def test_ages_in_one_query_share_one_now():
    q = compile_filter("observed<1h observed>1m", resolver=CATALOG).q

    (_, within_the_hour), (_, a_minute_ago) = q.children
    assert a_minute_ago - within_the_hour == timedelta(minutes=59)


@pytest.mark.parametrize(
    ("query", "mentioned"),
    [
        ("", set()),
        ("gpus>=4", {"gpus"}),
        ("num_gpus>=4 dph<2", {"gpus", "price"}),
        ("status=any", {"status"}),
        ("not (status=withdrawn or gpu=H100)", {"status", "gpu"}),
    ],
)
def test_it_reports_the_fields_a_query_mentions(query, mentioned):
    compiled = compile_filter(query, resolver=CATALOG, now=NOW)

    assert compiled.fields == mentioned
    assert compiled.mentions("status") == ("status" in mentioned)


def test_mentions_understands_aliases():
    compiled = compile_filter("num_gpus>=4", resolver=CATALOG, now=NOW)

    assert compiled.mentions("num_gpus")
    assert compiled.mentions("gpus")
    assert not compiled.mentions("no_such_field")


def test_it_exposes_the_normal_form():
    compiled = compile_filter("num_gpus gte 4 and gpu_name=h100-sxm", resolver=CATALOG, now=NOW)

    assert compiled.normalized == "gpus>=4 gpu=H100"


def test_it_compiles_a_tree_built_by_hand():
    assert compile_query(MATCH_ALL, resolver=CATALOG).q == Q()


def test_the_resolver_is_asked_only_for_gpu_and_provider_fields():
    class CountingResolver:
        calls = 0

        def gpu_ids(self, **criteria):
            self.calls += 1
            return frozenset()

        def provider_ids(self, **criteria):
            self.calls += 1
            return frozenset()

    resolver = CountingResolver()
    compile_filter("gpus>=4 region=eu-* price<2 observed<1h", resolver=resolver, now=NOW)

    assert resolver.calls == 0
