"""How the quote engine reads offers: keyset pages that start on the index, many streams in
one LATERAL statement, and counts that are not asked of the database when they must be 0."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext

from common.api.pagination import keyset_after
from marketplace.models import GpuModel, Offer
from marketplace.quoting import plan_search
from marketplace.quoting.candidates import listed_offers
from marketplace.quoting.engine import quote_create
from marketplace.quoting.request import QuoteRequest
from marketplace.quoting.streams import (
    _GPU_SENTINEL,
    _PRICING_SENTINEL,
    OfferStream,
    _with_stream_columns,
    read_first_pages,
)
from tests.factories import OfferFactory, ProviderFactory, make_org_with_key

pytestmark = pytest.mark.django_db


def test_a_keyset_condition_states_the_first_keys_bound_on_its_own():
    # Without `price >= 2` on its own, PostgreSQL cannot start the index range at the cursor
    # and walks every earlier entry again on every page.
    condition = keyset_after([("price_per_gpu_hour", False), ("id", False)], [Decimal(2), 7])
    sql = str(Offer.objects.filter(condition).query)
    assert '"price_per_gpu_hour" >= 2' in sql
    descending = keyset_after([("gpu_count", True), ("id", True)], [4, 7])
    assert '"gpu_count" <= 4' in str(Offer.objects.filter(descending).query)


def test_the_stand_ins_become_the_lateral_joins_columns_and_other_values_stay_bound():
    sql = "SELECT 1 WHERE a = %s AND g = %s AND p = %s AND n LIKE 'x%%' AND b = %s"
    params = [5, _GPU_SENTINEL, _PRICING_SENTINEL, "y"]
    rewritten, kept = _with_stream_columns(sql, params)
    assert rewritten == (
        "SELECT 1 WHERE a = %s AND g = stream.gpu_id AND p = stream.pricing "
        "AND n LIKE 'x%%' AND b = %s"
    )
    assert kept == [5, "y"]


def test_without_both_stand_ins_there_is_no_rewrite():
    assert _with_stream_columns("SELECT %s", [_GPU_SENTINEL]) is None


def test_many_streams_read_in_one_statement_give_each_stream_its_own_cheapest_offers():
    provider = ProviderFactory(launcher="simulated")
    gpus = list(GpuModel.objects.order_by("id")[:3])
    prices = {}
    for gpu in gpus:
        for pricing in ("on_demand", "spot"):
            for step in range(4):
                price = Decimal(gpu.pk) + Decimal(step) / 10 + (pricing == "spot")
                OfferFactory(
                    provider=provider,
                    gpu=gpu,
                    gpu_count=1,
                    pricing=pricing,
                    price_per_hour=price,
                    price_per_gpu_hour=price,
                )
                prices.setdefault((gpu.pk, pricing), []).append(price)
    template = listed_offers(match=Q())
    streams = [
        OfferStream(
            None, "price_per_gpu_hour", page_size=2, gpu_id=g.pk, pricing=p, template=template
        )
        for g in gpus
        for p in ("on_demand", "spot")
    ]
    with CaptureQueriesContext(connection) as queries:
        found = read_first_pages(streams)
    assert len(queries) == 1 and "LATERAL" in queries[0]["sql"]
    for stream in streams:
        mine = [
            c.price_per_gpu_hour
            for c in found
            if (c.gpu_id, c.pricing) == (stream.gpu_id, stream.pricing)
        ]
        assert mine == sorted(prices[(stream.gpu_id, stream.pricing)])[:2]
        assert not stream.exhausted
        # the stream goes on from its own cursor
        assert [c.price_per_gpu_hour for c in stream.next_page()] == sorted(
            prices[(stream.gpu_id, stream.pricing)]
        )[2:4]


def test_cost_per_work_does_not_count_workless_offers_of_gpus_that_all_have_figures():
    org = make_org_with_key().org
    rated = GpuModel.objects.filter(bf16_tflops__gt=0).order_by("id").first()
    OfferFactory(
        provider=ProviderFactory(launcher="simulated"),
        gpu=rated,
        gpu_count=1,
        price_per_hour=Decimal("2"),
        price_per_gpu_hour=Decimal("2"),
    )
    request = QuoteRequest(gpu=f"{rated.name}:1", hours=Decimal(1), objective="cost_per_work")
    with CaptureQueriesContext(connection) as queries:
        result = quote_create(org=org, request=request)
    assert result.excluded["no_throughput"] == 0
    assert len(result.quotes) == 1
    # No statement asks for offers of GPUs without a figure: the named GPU has one.
    assert not any("IS NULL" in q["sql"] and "COUNT" in q["sql"] for q in queries)


def test_a_filter_on_a_few_providers_reads_each_provider_on_its_own_and_merges_them():
    org = make_org_with_key().org
    gpu = GpuModel.objects.get(name="H100")
    providers = [ProviderFactory(slug=f"cloud-{n}", name=f"Cloud {n}") for n in range(3)]
    for index, provider in enumerate(providers):
        for step in range(3):
            price = Decimal(2) + Decimal(index) / 10 + Decimal(step) / 100
            OfferFactory(
                provider=provider,
                gpu=gpu,
                gpu_count=1,
                price_per_hour=price,
                price_per_gpu_hour=price,
            )
    wanted = f"provider in [{providers[2].slug},{providers[0].slug}]"
    request = QuoteRequest(gpu="H100:1", hours=Decimal(1), filter=wanted, limit=4)
    with CaptureQueriesContext(connection) as queries:
        result = quote_create(org=org, request=request)
    totals = [quote.total for quote in result.quotes]
    assert totals == sorted(totals)
    used = {Offer.objects.get(pk=q.legs[0]["offer"]).provider_id for q in result.quotes}
    assert used == {providers[0].pk, providers[2].pk}
    # the three offers of provider 0, then the cheapest of provider 2 (same rates for all)
    prices = [Offer.objects.get(pk=q.legs[0]["offer"]).price_per_hour for q in result.quotes]
    assert prices == [Decimal("2.00"), Decimal("2.01"), Decimal("2.02"), Decimal("2.20")]
    reads = [q["sql"] for q in queries if "UNION ALL" in q["sql"]]
    assert reads and all(f'"provider_id" = {providers[0].pk}' in sql for sql in reads)


def test_stream_reads_walk_indexes_and_leave_the_planner_as_they_found_it():
    org = make_org_with_key().org
    gpu = GpuModel.objects.get(name="H100")
    OfferFactory(
        provider=ProviderFactory(),
        gpu=gpu,
        gpu_count=1,
        price_per_hour=Decimal(2),
        price_per_gpu_hour=Decimal(2),
    )
    with CaptureQueriesContext(connection) as queries:
        quote_create(org=org, request=QuoteRequest(gpu="H100:1", hours=Decimal(1)))
    statements = [q["sql"] for q in queries]
    off = next(i for i, sql in enumerate(statements) if "enable_bitmapscan = off" in sql)
    back = next(i for i, sql in enumerate(statements) if "enable_bitmapscan TO DEFAULT" in sql)
    reads = [
        i for i, sql in enumerate(statements) if "ORDER BY" in sql and "marketplace_offer" in sql
    ]
    assert reads and all(off < i < back for i in reads)
    # The test's transaction is still open: the setting must not outlive the block.
    with connection.cursor() as cursor:
        cursor.execute("SHOW enable_bitmapscan")
        assert cursor.fetchone()[0] == "on"


def test_a_memory_floor_without_a_gpu_reads_only_the_models_whose_memory_fits(monkeypatch):
    org = make_org_with_key().org
    small = GpuModel.objects.filter(memory_gb__gt=0, memory_gb__lt=24).order_by("id").first()
    big = GpuModel.objects.filter(memory_gb__gte=24).order_by("id").first()
    provider = ProviderFactory()
    for gpu, price in ((small, "0.10"), (big, "0.90")):
        OfferFactory(
            provider=provider,
            gpu=gpu,
            gpu_count=1,
            gpu_memory_gb=gpu.memory_gb,  # as both writers record it: the model's memory
            price_per_hour=Decimal(price),
            price_per_gpu_hour=Decimal(price),
        )
    read = []

    def spy(streams):
        read.extend(stream.gpu_id for stream in streams)
        return read_first_pages(streams)

    monkeypatch.setattr(plan_search, "read_first_pages", spy)
    result = quote_create(org=org, request=QuoteRequest(gpu="24GB..:1", hours=Decimal(1)))
    assert [q.legs[0]["price_per_hour"] for q in result.quotes] == ["0.900000"]
    fitting = set(GpuModel.objects.filter(memory_gb__gte=24).values_list("pk", flat=True))
    assert set(read) == fitting  # one run per model whose memory fits, and no other
