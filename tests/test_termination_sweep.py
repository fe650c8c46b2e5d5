"""Terminations whose terminate task was lost are driven again: by the beat sweep, and by a
buyer asking again, once the grace has passed; never twice in one go."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from brokers.models import SimulatedInstance
from brokers.services import launch
from brokers.tasks import retry_stuck_terminations
from marketplace import handoff
from marketplace.handoff import TERMINATE_RESERVATION
from marketplace.models import Reservation
from marketplace.services.reservations import (
    reservation_request_termination,
    reservation_termination_claim_retry,
)
from marketplace.tests.provider_fixtures import record_sent_tasks
from tests.clock import at, frozen_at_t0
from tests.factories import reserve_running

pytestmark = pytest.mark.django_db

GRACE = 120


@pytest.fixture
def clock(settings):
    settings.TERMINATION_RETRY_AFTER_SECONDS = GRACE
    with frozen_at_t0() as move_to:
        yield move_to


@pytest.fixture
def sent(monkeypatch):
    """Tasks handed on by name, recorded as each call commits (the test's transaction never
    does)."""
    monkeypatch.setattr(handoff, "transaction", SimpleNamespace(on_commit=lambda send: send()))
    return record_sent_tasks(monkeypatch)


def _terminations(sent) -> list[tuple]:
    return [args for name, args, _ in sent if name == TERMINATE_RESERVATION]


def _stuck_terminating(clock) -> Reservation:
    """Running since T0, asked to terminate at T0+60; the terminate task never ran."""
    reservation = reserve_running()
    clock(60)
    return reservation_request_termination(reservation=Reservation.objects.get(pk=reservation.pk))


def test_it_queues_stuck_terminations_again_after_the_grace(clock, sent):
    # given a reservation terminating since T0+60 whose task was lost
    reservation = _stuck_terminating(clock)
    assert _terminations(sent) == [(reservation.pk,)]

    # when the sweep runs within the grace, then past it, then again in the same tick
    clock(60 + GRACE - 1)
    assert retry_stuck_terminations() == 0
    clock(60 + GRACE)
    assert retry_stuck_terminations() == 1
    assert retry_stuck_terminations() == 0

    # then the terminate task was queued once more, and not again until another grace passed
    assert _terminations(sent) == [(reservation.pk,), (reservation.pk,)]
    clock(60 + 2 * GRACE - 1)
    assert retry_stuck_terminations() == 0
    clock(60 + 2 * GRACE)
    assert retry_stuck_terminations() == 1
    assert len(_terminations(sent)) == 3


def test_it_ends_the_reservation_when_the_requeued_task_runs_twice(clock, sent):
    # given a stuck termination queued again by the sweep
    reservation = _stuck_terminating(clock)
    clock(60 + GRACE)
    retry_stuck_terminations()

    # when the queued task runs, and runs again
    launch.terminate_reservation(reservation_id=reservation.pk)
    clock(60 + GRACE + 5)
    launch.terminate_reservation(reservation_id=reservation.pk)

    # then it ended when the instance was terminated, and the sweep has nothing left
    reservation.refresh_from_db()
    assert (reservation.status, reservation.ended_at) == ("terminated", at(60 + GRACE))
    assert SimulatedInstance.objects.get().state == "terminated"
    clock(60 + 3 * GRACE)
    assert retry_stuck_terminations() == 0


def test_it_lets_one_of_two_claimers_queue_the_task(clock, sent):
    # given a stuck termination past the grace
    reservation = _stuck_terminating(clock)
    clock(60 + GRACE)
    cutoff = at(60)

    # when two sweeps claim it in the same tick
    first = reservation_termination_claim_retry(reservation_id=reservation.pk, stuck_since=cutoff)
    second = reservation_termination_claim_retry(reservation_id=reservation.pk, stuck_since=cutoff)

    # then only the first queued the task
    assert (first, second) == (True, False)
    assert len(_terminations(sent)) == 2


def test_it_requeues_when_the_buyer_asks_again_past_the_grace(clock, sent):
    # given a stuck termination
    reservation = _stuck_terminating(clock)

    # when the buyer asks again within the grace, then past it, then at once again
    clock(60 + GRACE - 1)
    reservation_request_termination(reservation=reservation)
    clock(60 + GRACE)
    reservation_request_termination(reservation=reservation)
    reservation_request_termination(reservation=reservation)

    # then only the ask past the grace queued the task again, and the state is unchanged
    assert _terminations(sent) == [(reservation.pk,), (reservation.pk,)]
    reservation.refresh_from_db()
    assert reservation.status == "terminating"
    assert list(reservation.events.values_list("to_status", flat=True)).count("terminating") == 1
