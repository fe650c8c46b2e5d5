"""One sync of a source at a time: a second one, started while the first runs (beat while a
slow run goes on, an operator by hand, a task handed to another worker), does not run and
leaves a `skipped` record. Real PostgreSQL advisory locks, real threads."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from brokers import registry
from brokers.models import PriceSync
from brokers.services.sync import ABANDONED, refresh_source
from brokers.services.sync_lock import LOCK_NAMESPACE, source_sync_lock
from brokers.sources.base import OfferRow, PricingSource
from marketplace.models import Offer

pytestmark = pytest.mark.django_db(transaction=True)


class SlowSource(PricingSource):
    """Lists one offer, then waits until the test lets it finish."""

    name = "slow"
    provider_slug = "slow"
    complete = True
    reading = threading.Event()
    finish = threading.Event()

    def fetch(self, *, path=None):
        yield OfferRow(sku="s1", provider="slow", gpu_label="H100", gpu_count=1,
                       price_per_hour=Decimal("2.5"))  # fmt: skip
        type(self).reading.set()
        assert type(self).finish.wait(timeout=30), "the test never let the slow source finish"


@pytest.fixture
def slow_source(monkeypatch):
    SlowSource.reading.clear()
    SlowSource.finish.clear()
    sources = registry._sources()
    monkeypatch.setattr(registry, "_sources", lambda: {**sources, "slow": SlowSource})
    yield SlowSource
    SlowSource.finish.set()  # never leave a thread waiting


def _run_in_thread(results: list) -> threading.Thread:
    def run():
        try:
            results.append(refresh_source(source_name="slow"))
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_second_sync_of_a_running_source_is_skipped(slow_source):
    # given a sync of the slow source in the middle of its run, on another thread
    results: list[PriceSync] = []
    first = _run_in_thread(results)
    assert slow_source.reading.wait(timeout=30)
    running = PriceSync.objects.get(source="slow")

    # when a second sync of the same source starts
    second = refresh_source(source_name="slow")

    # then it does not run, and its record says which sync holds the source
    assert second.status == "skipped"
    assert second.errors == [
        {"where": "source slow", "reason": f"sync #{running.pk} of this source is still running"}
    ]
    assert (second.created, second.finished_at is not None) == (0, True)
    # and the first one finishes as if alone
    slow_source.finish.set()
    first.join(timeout=30)
    assert [(s.status, s.created) for s in results] == [("succeeded", 1)]
    assert list(Offer.objects.values_list("sku", flat=True)) == ["s1"]


def test_the_lock_is_released_when_a_sync_ends_and_other_sources_never_wait(slow_source):
    # given a sync of the slow source in the middle of its run
    results: list[PriceSync] = []
    first = _run_in_thread(results)
    assert slow_source.reading.wait(timeout=30)

    # then another source syncs meanwhile
    assert refresh_source(source_name="simulated").status == "succeeded"

    # and once the slow sync is over, the next one of the same source runs
    slow_source.finish.set()
    first.join(timeout=30)
    again = refresh_source(source_name="slow")
    assert (again.status, again.unchanged) == ("succeeded", 1)


def test_a_failed_sync_releases_the_lock(tmp_path):
    failed = refresh_source(source_name="simulated", path=str(tmp_path / "missing.json"))
    assert failed.status == "failed"
    assert refresh_source(source_name="simulated").status == "succeeded"


def test_a_record_left_running_by_a_dead_run_is_closed_by_the_next_run():
    # given the record of a run whose worker was killed (it holds no lock: its process is gone)
    dead = PriceSync.objects.create(
        source="simulated", status="running", started_at=timezone.now() - timedelta(hours=1)
    )
    # when the next run of that source starts
    run = refresh_source(source_name="simulated")
    # then the dead one is failed with the reason, and the new one runs
    dead.refresh_from_db()
    assert (dead.status, dead.errors) == (
        "failed",
        [{"where": "source simulated", "reason": ABANDONED}],
    )
    assert dead.finished_at is not None
    assert run.status == "succeeded"


def test_the_lock_is_free_the_moment_a_sync_lets_go():
    # A closed session lets go of its locks a moment after the client returns; a sync
    # started in that moment must not find the lock held. Checked many times over.
    for _ in range(100):
        with source_sync_lock("skypilot-catalog") as locked:
            assert locked
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_try_advisory_lock(%s, hashtext(%s))",
                [LOCK_NAMESPACE, "skypilot-catalog"],
            )
            assert cursor.fetchone() == (True,)
            cursor.execute(
                "SELECT pg_advisory_unlock(%s, hashtext(%s))", [LOCK_NAMESPACE, "skypilot-catalog"]
            )
