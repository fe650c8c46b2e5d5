"""The price index's stored rows (services/price_index_rollup.py, `PriceIndexRow`) against the
live computation (`price_index_live`, whose figures test_price_index.py checks by hand), on
the history of price_index_fixtures.py: the rows give exactly what the live computation gives,
for every filter, whether the beat stored them or a page filled them in."""

from __future__ import annotations

import time
from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import DEFAULT_DB_ALIAS, connection, connections

from marketplace.models import Offer, OfferPrice, PriceIndexRow
from marketplace.selectors.price_index import (
    PriceIndexQuery,
    price_index_compute,
    price_index_live,
)
from marketplace.services.price_index_rollup import FILTERS, refresh_price_index_rows
from marketplace.tests.price_index_fixtures import LISTED, NOW, build_history

pytestmark = pytest.mark.django_db

TODAY = NOW.date()
ROW_FIELDS = ("gpu", "pricing", "continent", "day", "p10", "median", "p90", "offers", "providers")


@pytest.fixture
def history():
    with time_machine.travel(NOW, tick=False):
        yield build_history()


def _stored(**filters) -> dict[tuple, tuple]:
    rows = PriceIndexRow.objects.filter(**filters).values_list(*ROW_FIELDS, "computed_at")
    return {row[:4]: row[4:] for row in rows}


def _live(query: PriceIndexQuery) -> list[tuple]:
    rows = price_index_live(query=query, today=TODAY).rows
    return [(r.day, r.p10, r.median, r.p90, r.offers, r.providers) for r in rows]


def _read(query: PriceIndexQuery) -> list[tuple]:
    rows = price_index_compute(query=query, today=TODAY).rows
    return [(r.day, r.p10, r.median, r.p90, r.offers, r.providers) for r in rows]


@pytest.mark.usefixtures("history")
@pytest.mark.parametrize("gpu", ["H100", "A100"])
def test_the_beat_stores_for_every_filter_what_the_live_computation_gives(
    gpu, django_assert_num_queries
):
    # given
    with time_machine.travel(NOW, tick=False):
        refresh_price_index_rows()

    # then: 90 days of every filter, each a row equal to the live figures
    for pricing, continent in FILTERS:
        query = PriceIndexQuery(gpu=gpu, pricing=pricing, continent=continent, days=90)
        live = _live(query)
        stored = _stored(gpu=gpu, pricing=pricing, continent=continent)
        assert [(day, *stored[(gpu, pricing, continent, day)][:-1]) for day, *_ in live] == [
            (day, *(None if p is None else Decimal(p) for p in prices), offers, providers)
            for day, *prices, offers, providers in live
        ]
        # and a page reads them with one query, the rows (no live computation)
        with time_machine.travel(NOW + timedelta(minutes=1)), django_assert_num_queries(1):
            assert _read(query) == live


def test_a_model_without_offers_gets_no_rows_and_is_computed_live(
    history, django_capture_on_commit_callbacks
):
    query = PriceIndexQuery(gpu="RTX4090", days=7)
    with time_machine.travel(NOW, tick=False):
        refresh_price_index_rows()

    assert not PriceIndexRow.objects.filter(gpu="RTX4090").exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert _read(query) == [(day, None, None, None, 0, 0) for day, *_ in _live(query)]


@pytest.mark.usefixtures("history")
def test_the_rows_hold_the_hand_worked_figures():
    with time_machine.travel(NOW, tick=False):
        refresh_price_index_rows()

    stored = _stored(gpu="H100", pricing="on_demand", continent="EU")

    # A 2, B 4 on Nov 30 (ranks 0.1, 0.5, 0.9); A 2, E 2.5, B 3 today: test_price_index.py
    assert stored[("H100", "on_demand", "EU", date(2026, 11, 30))][:-1] == (
        Decimal("2.20"), Decimal("3.00"), Decimal("3.80"), 2, 2
    )  # fmt: skip
    assert stored[("H100", "on_demand", "EU", TODAY)][:-1] == (
        Decimal("2.10"), Decimal("2.50"), Decimal("2.90"), 3, 3
    )  # fmt: skip
    assert len(stored) == 90


@pytest.mark.usefixtures("history")
def test_running_the_beat_again_changes_nothing():
    with time_machine.travel(NOW, tick=False):
        refresh_price_index_rows()
    before = _stored()

    # the same minute, and ten minutes later: past days are final and left alone, today's
    # row is recomputed to the same figures
    with time_machine.travel(NOW, tick=False):
        assert refresh_price_index_rows() == len(FILTERS) * 2  # H100 and A100, today
    assert _stored() == before
    with time_machine.travel(NOW + timedelta(minutes=10), tick=False):
        refresh_price_index_rows()
    after = _stored()
    assert {key: row[:-1] for key, row in after.items()} == {
        key: row[:-1] for key, row in before.items()
    }
    assert {key: row for key, row in after.items() if key[3] < TODAY} == {
        key: row for key, row in before.items() if key[3] < TODAY
    }


@pytest.mark.usefixtures("history")
def test_the_beat_completes_the_days_a_crash_left_without_rows():
    with time_machine.travel(NOW, tick=False):
        refresh_price_index_rows()
    before = _stored()
    PriceIndexRow.objects.filter(gpu="H100", day__gte=date(2026, 12, 2)).delete()
    PriceIndexRow.objects.filter(gpu="H100", pricing="spot", continent="NA").delete()

    with time_machine.travel(NOW + timedelta(minutes=5), tick=False):
        refresh_price_index_rows()

    assert {key: row[:-1] for key, row in _stored().items()} == {
        key: row[:-1] for key, row in before.items()
    }


@pytest.mark.usefixtures("history")
def test_a_model_whose_offers_are_gone_gets_rows_without_offers():
    with time_machine.travel(NOW, tick=False):
        refresh_price_index_rows()
    Offer.objects.filter(gpu__name="A100").delete()

    with time_machine.travel(NOW + timedelta(minutes=10), tick=False):
        refresh_price_index_rows()

    today = PriceIndexRow.objects.filter(gpu="A100", day=TODAY)
    assert today.count() == len(FILTERS)
    assert {(row.offers, row.median) for row in today} == {(0, None)}


def test_a_page_fills_in_the_days_it_finds_missing(
    history, django_assert_num_queries, django_capture_on_commit_callbacks
):
    # given the beat's rows, less two days of one filter (a first deploy has none at all)
    query = PriceIndexQuery(gpu="H100", pricing="on_demand", continent="EU", days=7)
    with time_machine.travel(NOW, tick=False):
        refresh_price_index_rows()
    PriceIndexRow.objects.filter(day__in=[date(2026, 12, 2), date(2026, 12, 3)]).delete()
    live = _live(query)

    # when a page asks: the rows, then the days from the first missing one computed live
    with (
        # rows, live statement, then after commit: savepoint, lock timeout, upsert, release
        django_assert_num_queries(6),
        time_machine.travel(NOW + timedelta(minutes=1), tick=False),
        django_capture_on_commit_callbacks(execute=True) as stored_after_commit,
    ):
        assert _read(query) == live
    assert len(stored_after_commit) == 1

    # then the missing days are stored with the live figures, and the next page reads rows
    stored = _stored(gpu="H100", pricing="on_demand", continent="EU")
    assert [(day, *stored[("H100", "on_demand", "EU", day)][:-1]) for day, *_ in live] == live
    with time_machine.travel(NOW + timedelta(minutes=2)), django_assert_num_queries(1):
        assert _read(query) == live


def test_rows_that_cannot_be_stored_leave_the_answer_standing(
    history, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    query = PriceIndexQuery(gpu="H100", days=7)

    def fail(*args, **kwargs):
        raise RuntimeError("deadlock detected")

    monkeypatch.setattr("marketplace.selectors.price_index.store_price_index_rows", fail)
    with django_capture_on_commit_callbacks(execute=True):
        rows = _read(query)

    assert rows == _live(query)
    assert not PriceIndexRow.objects.exists()
    assert "deadlock detected" in caplog.text


def test_a_page_does_not_wait_for_rows_the_beat_is_writing(
    history, django_capture_on_commit_callbacks
):
    """The beat's transaction holds the keys it upserted until it commits: a page that computed
    the same rows gives up storing them after PAGE_LOCK_TIMEOUT instead of waiting."""
    query = PriceIndexQuery(gpu="H100", days=7)
    other = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with other.cursor() as cursor:  # the beat, on its own connection, mid-transaction
            cursor.execute("BEGIN")
            cursor.execute(
                f"INSERT INTO {PriceIndexRow._meta.db_table} (gpu, pricing, continent, day,"
                " currency, offers, providers, computed_at)"
                " VALUES ('H100', '', '', %s, 'USD', 0, 0, now())",
                [TODAY],
            )
            started = time.monotonic()
            with django_capture_on_commit_callbacks(execute=True):
                rows = _read(query)
            waited = time.monotonic() - started
            cursor.execute("ROLLBACK")
    finally:
        other.close()

    assert rows == _live(query)
    assert waited < 5
    assert not PriceIndexRow.objects.exists()


def test_today_is_read_while_recent_and_computed_live_once_it_is_not(
    history, django_capture_on_commit_callbacks
):
    # given the beat's rows at noon, then a new offer listed
    query = PriceIndexQuery(gpu="H100", pricing="on_demand", continent="EU", days=7)
    with time_machine.travel(NOW, tick=False):
        refresh_price_index_rows()
    before = _read(query)
    cheaper = Offer.objects.get(pk=history.a.pk)
    OfferPrice.objects.create(offer=cheaper, price_per_hour=Decimal("2.00"), observed_at=LISTED)
    OfferPrice.objects.create(
        offer=cheaper, price_per_hour=Decimal("1.00"), observed_at=NOW + timedelta(minutes=1)
    )

    # a few minutes later, today's row is the beat's (at most two beat periods old)
    with time_machine.travel(NOW + timedelta(minutes=5), tick=False):
        assert _read(query) == before
    # past that, today is computed live (A now 1.00: 1.00, 2.50, 3.00), the rest are rows
    with (
        time_machine.travel(NOW + timedelta(minutes=11), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        rows = _read(query)
    assert rows[:-1] == before[:-1]
    assert rows[-1] == (TODAY, Decimal("1.30"), Decimal("2.50"), Decimal("2.90"), 3, 3)
    assert rows == _live(query)


def test_the_migration_keys_the_rows_and_indexes_withdrawn_offers_by_gpu_model():
    with connection.cursor() as cursor:
        rows = connection.introspection.get_constraints(cursor, PriceIndexRow._meta.db_table)
        offers = connection.introspection.get_constraints(cursor, Offer._meta.db_table)
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'offer_withdrawn_gpu'")
        (definition,) = cursor.fetchone()

    key = rows["price_index_row_key"]
    assert key["unique"] and key["columns"] == ["gpu", "pricing", "continent", "day"]
    assert offers["offer_withdrawn_gpu"]["columns"] == ["gpu_id"]
    assert definition.endswith("WHERE ((status)::text = 'withdrawn'::text)")
    assert "observed_at" not in definition  # every sync sets it: no index entry to write
