"""refresh_source and the upkeep beat task: failures, staleness, bad rows, the batch writer."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine

from brokers import registry
from brokers.models import PriceSync
from brokers.services import batch_writer, sync
from brokers.services.sync import offers_upkeep, refresh_source
from brokers.sources.base import OfferRow, PricingSource
from brokers.tasks import offers_upkeep_task
from marketplace.models import Offer, OfferPrice, OfferStatus, Provider
from marketplace.services.offer_writer import UpsertCounts
from tests.factories import OfferFactory

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SIMULATED_FRESHNESS = timedelta(hours=1)


def catalog_file(tmp_path, items) -> str:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(items))
    return str(path)


def statuses() -> dict[str, str]:
    return dict(Offer.objects.values_list("sku", "status"))


class ExplodingSource(PricingSource):
    name = "exploding"
    provider_slug = "exploding"

    def fetch(self, *, path=None):
        yield OfferRow(sku="e1", provider="exploding", gpu_label="H100", gpu_count=1,
                       price_per_hour=Decimal("2.5"))  # fmt: skip
        raise RuntimeError("parser bug at line 2")


@pytest.fixture
def exploding_source(monkeypatch):
    sources = registry._sources()
    monkeypatch.setattr(registry, "_sources", lambda: {**sources, "exploding": ExplodingSource})


# --- failures lose nothing ----------------------------------------------------------------


@pytest.mark.django_db
def test_a_source_that_cannot_be_read_fails_and_withdraws_nothing(tmp_path):
    # given a loaded catalog
    refresh_source(source_name="simulated")
    # when the next run cannot read its input
    failed = refresh_source(source_name="simulated", path=str(tmp_path / "missing.json"))
    # then
    assert failed.status == "failed"
    assert failed.errors[0]["reason"].startswith("cannot read simulated catalog")
    assert (failed.created, failed.withdrawn) == (0, 0)
    assert set(statuses().values()) == {"active"}
    assert Offer.objects.count() == 15


@pytest.mark.django_db
def test_an_unexpected_error_in_a_source_is_recorded_and_does_not_raise(exploding_source):
    run = refresh_source(source_name="exploding")

    assert run.status == "partial"  # the row before the error was stored
    assert run.errors == [
        {"where": "source exploding", "reason": "RuntimeError: parser bug at line 2"}
    ]
    assert (run.created, run.withdrawn, run.finished_at is not None) == (1, 0, True)


@pytest.mark.django_db
def test_a_row_that_cannot_be_stored_is_reported_and_the_others_are_stored(tmp_path):
    path = catalog_file(
        tmp_path,
        [
            {"sku": "ok", "gpu": "H100", "gpu_count": 1, "price_per_hour": "2.5"},
            {"sku": "s" * 250, "gpu": "H100", "gpu_count": 1, "price_per_hour": "2.5"},
            {"sku": "dear", "gpu": "H100", "gpu_count": 1, "price_per_hour": "123456789"},
        ],
    )

    run = refresh_source(source_name="simulated", path=path)

    assert (run.status, run.rows_read, run.created) == ("partial", 3, 1)
    assert [e["reason"] for e in run.errors] == [
        f"sku is longer than 200 characters: {'s' * 40!r}...",
        "price_per_hour 123456789 is out of range",
    ]
    assert run.errors[1]["where"] == "simcloud dear on_demand"
    assert list(Offer.objects.values_list("sku", flat=True)) == ["ok"]


# --- the sync record ----------------------------------------------------------------------


@pytest.mark.django_db
def test_the_sync_records_its_providers_and_the_price_check(tmp_path):
    path = catalog_file(
        tmp_path,
        [
            {"sku": "h1", "gpu": "H100", "gpu_count": 1, "price_per_hour": "2.50"},
            # a decimal point slipped: $0.03 for $3.00
            {"sku": "bad", "gpu": "H100", "gpu_count": 1, "price_per_hour": "0.03"},
        ],
    )
    for slug in ("aa", "bb"):  # two more providers of H100 for a reference of three
        OfferFactory(provider=Provider.objects.create(name=slug, slug=slug), sku=slug)

    run = refresh_source(source_name="simulated", path=path)

    assert (run.providers, run.suspect_flagged, run.suspect_cleared) == (["simcloud"], 1, 0)
    # votes 1.265 (simcloud's median), 2.50, 2.50: low end 1.265 + 0.5 x 1.235 = 1.8825
    assert Offer.objects.get(sku="bad").suspect_reason.startswith("$0.030000/GPU-h is 2% of")


@pytest.mark.django_db
def test_an_unchanged_run_skips_the_price_check(monkeypatch):
    refresh_source(source_name="simulated")
    calls = []
    monkeypatch.setattr(sync, "offers_flag_suspects", lambda **kw: calls.append(kw))

    run = refresh_source(source_name="simulated")

    assert (run.unchanged, calls) == (15, [])


# --- freshness ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_offers_older_than_the_freshness_limit_go_stale_even_when_the_source_fails(tmp_path):
    # given offers loaded at T0 (simulated: fresh for an hour)
    with time_machine.travel(T0, tick=False):
        refresh_source(source_name="simulated")
    # when the source fails two hours later
    with time_machine.travel(T0 + 2 * SIMULATED_FRESHNESS, tick=False):
        failed = refresh_source(source_name="simulated", path=str(tmp_path / "gone.json"))
    # then its offers are stale (still listed), not withdrawn
    assert (failed.status, failed.stale, failed.withdrawn) == ("failed", 15, 0)
    assert set(statuses().values()) == {"stale"}


@pytest.mark.django_db
def test_a_run_within_the_limit_keeps_offers_active():
    with time_machine.travel(T0, tick=False):
        refresh_source(source_name="simulated")
    with time_machine.travel(T0 + SIMULATED_FRESHNESS / 2, tick=False):
        assert offers_upkeep()["stale"] == 0
    assert set(statuses().values()) == {"active"}


@pytest.mark.django_db
def test_the_upkeep_task_ages_offers_of_a_source_that_stopped_running():
    # given a source that ran once, and an offer a provider listed through the API
    with time_machine.travel(T0, tick=False):
        refresh_source(source_name="simulated")
        listed = OfferFactory(provider=Provider.objects.create(name="Acme", slug="acme"))
    # when the beat task runs long after
    with time_machine.travel(T0 + 3 * SIMULATED_FRESHNESS, tick=False):
        result = offers_upkeep_task()
    # then
    assert result == {"stale": 15, "suspect_flagged": 0, "cleared": 0}
    assert Offer.objects.filter(status=OfferStatus.STALE).count() == 15
    assert Offer.objects.get(pk=listed.pk).status == OfferStatus.ACTIVE  # not a source's
    with time_machine.travel(T0 + 3 * SIMULATED_FRESHNESS, tick=False):
        assert offers_upkeep_task()["stale"] == 0  # safe to run twice


@pytest.mark.django_db
def test_a_stale_offer_seen_again_is_active_again():
    with time_machine.travel(T0, tick=False):
        refresh_source(source_name="simulated")
    with time_machine.travel(T0 + 2 * SIMULATED_FRESHNESS, tick=False):
        offers_upkeep()
        again = refresh_source(source_name="simulated")
    assert (again.updated, again.stale) == (15, 0)
    assert set(statuses().values()) == {"active"}


# --- the batch writer thread (outside a transaction, as in a worker) -----------------------


@pytest.mark.django_db
def test_batches_start_small_and_double_up_to_the_batch_size(monkeypatch):
    # the writers get their first rows early, then batches of the full size
    monkeypatch.setattr(sync, "FIRST_BATCH_SIZE", 2)
    monkeypatch.setattr(sync, "BATCH_SIZE", 6)
    sizes = []
    original = batch_writer.BatchWriter.submit
    monkeypatch.setattr(
        batch_writer.BatchWriter,
        "submit",
        lambda self, batch: sizes.append(len(batch)) or original(self, batch),
    )
    # when
    run = refresh_source(source_name="simulated")
    # then: 15 offers
    assert (sizes, run.created) == ([2, 4, 6, 3], 15)


@pytest.mark.django_db(transaction=True)
def test_batches_are_written_on_a_thread_outside_a_transaction(monkeypatch):
    monkeypatch.setattr(sync, "BATCH_SIZE", 4)  # 15 rows: 4 batches
    threads = []
    original = batch_writer.BatchWriter.__init__

    def spy(self, **kwargs):
        original(self, **kwargs)
        threads.append(self.threaded)

    monkeypatch.setattr(batch_writer.BatchWriter, "__init__", spy)

    first = refresh_source(source_name="simulated")
    again = refresh_source(source_name="simulated", full=True)

    assert threads == [True, True]
    # new offers store no price point (OfferPrice), unchanged ones none either
    assert (first.created, again.unchanged, OfferPrice.objects.count()) == (15, 15, 0)


@pytest.mark.django_db(transaction=True)
def test_a_failing_writer_stops_the_run_and_nothing_is_withdrawn(monkeypatch):
    # given a loaded catalog
    refresh_source(source_name="simulated")
    monkeypatch.setattr(sync, "BATCH_SIZE", 4)
    monkeypatch.setattr(batch_writer, "WRITERS", 1)  # whole batches, in order
    calls = []

    def flaky(*, prepared, observed_at, expect_new=False):
        calls.append(prepared.rows)
        if len(calls) == 2:
            raise RuntimeError("connection lost")
        return UpsertCounts(unchanged=prepared.rows)

    monkeypatch.setattr(batch_writer, "offer_upsert_prepared", flaky)
    # when (a full run: the unchanged catalog would not be written at all)
    run = refresh_source(source_name="simulated", full=True)
    # then
    assert run.errors == [{"where": "source simulated", "reason": "RuntimeError: connection lost"}]
    assert (run.status, run.unchanged, run.withdrawn) == ("partial", 4, 0)
    assert len(calls) <= 3  # the reader stopped soon after the error
    assert set(statuses().values()) == {"active"}
    assert PriceSync.objects.filter(status="running").count() == 0


@pytest.mark.django_db
def test_bid_floors_from_a_source_come_out_suspect():
    # vast's sample: every offer with a min_bid gives a spot row flagged as a bid floor
    run = refresh_source(
        source_name="vast", path=str(Path(__file__).parent / "samples" / "vast" / "bundles.json")
    )

    spot = Offer.objects.filter(pricing="spot")
    assert spot.count() >= 1 and run.suspect_flagged >= spot.count()
    assert set(spot.values_list("suspect", "suspect_reason")) == {(True, "bid floor, not a price")}
    assert not Offer.objects.filter(pricing="on_demand", suspect_reason="bid floor, not a price")
