"""Ended runs whose last stretch was never metered (the one usage task queued at their end was
lost) are found by the metering beat and billed to their end, once."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from billing.models import UsageRecord
from billing.selectors import reservations_with_unmetered_run_ends
from billing.services.usage import usage_record_for_reservation
from billing.tasks import record_reservation_usage, record_usage
from brokers.services import launch
from marketplace.models import Reservation
from marketplace.services.reservations import (
    reservation_mark_preempted,
    reservation_request_termination,
)
from tests.clock import T0, at, frozen_at_t0
from tests.factories import reserve_running

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock():
    with frozen_at_t0() as move_to:
        yield move_to


def _terminate(reservation: Reservation) -> None:
    reservation_request_termination(reservation=Reservation.objects.get(pk=reservation.pk))
    launch.terminate_reservation(reservation_id=reservation.pk)


def _usage(reservation) -> list[tuple[datetime, datetime, int]]:
    return list(
        UsageRecord.objects.filter(reservation=reservation).values_list(
            "interval_start", "interval_end", "seconds"
        )
    )


@pytest.fixture
def ended(clock):
    """Reservations started at T0 (their usage tasks at the end never ran, in tests)."""
    metered_short = reserve_running()  # metered to T0+60, terminated at T0+100
    never_metered = reserve_running()  # preempted at T0+50, never metered
    metered_fully = reserve_running()  # terminated at T0+100, metered to its end
    still_running = reserve_running()  # an open run: the running meter's, not this sweep's
    clock(60)
    usage_record_for_reservation(reservation_id=metered_short.pk)
    clock(100)
    reservation_mark_preempted(reservation_id=never_metered.pk, at=at(50))
    _terminate(metered_short)
    _terminate(metered_fully)
    usage_record_for_reservation(reservation_id=metered_fully.pk)
    clock(130)
    return metered_short, never_metered, metered_fully, still_running


def test_it_lists_the_reservations_with_ended_runs_metered_short_in_one_query(
    ended, django_assert_num_queries
):
    metered_short, never_metered, _, _ = ended
    with django_assert_num_queries(1):
        found = set(reservations_with_unmetered_run_ends())
    assert found == {metered_short.pk, never_metered.pk}


def test_it_leaves_out_runs_that_ended_before_the_lookback(ended, clock):
    # when the sweep runs long after every run ended
    clock(100 + int(timedelta(days=3).total_seconds()))

    # then the old runs are left alone (a sweep a moment after each end had its chance)
    assert set(reservations_with_unmetered_run_ends()) == set()


def test_the_metering_beat_bills_ended_runs_to_their_end_once(ended, monkeypatch):
    # given the usage tasks the beat queues run at once
    metered_short, never_metered, metered_fully, still_running = ended
    monkeypatch.setattr(record_reservation_usage, "delay", record_reservation_usage)

    # when the metering beat runs, then runs again
    # (intervals recorded + ended runs queued): the running one's interval, the two ended short
    assert record_usage() == 3
    assert record_usage() == 0  # the clock stood still: nothing new, nothing short

    # then each ended run is billed from its start to its end, exactly once
    assert _usage(metered_short) == [(T0, at(60), 60), (at(60), at(100), 40)]
    assert _usage(never_metered) == [(T0, at(50), 50)]
    assert _usage(metered_fully) == [(T0, at(100), 100)]
    assert _usage(still_running) == [(T0, at(130), 130)]
    assert set(reservations_with_unmetered_run_ends()) == set()
