"""Preemption for real: the worker launches a spot reservation, the cloud takes the instance
back, the beat's running check notices, and the reservation (auto_relaunch) runs again on a
new instance. Billing meters both runs and not the gap. PostgreSQL, Redis and a Celery
worker process are real; the simulated cloud is preempted the way an operator does it."""

from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from itertools import pairwise

import pytest
from django.utils import timezone

from billing.models import InvoiceLine, UsageRecord
from brokers.simulated import simulated_instances_preempt
from brokers.tasks import check_running_reservations
from conftest import wait_until
from marketplace.models import Offer, Reservation
from tests.factories import OfferFactory, ProviderFactory, backdate_running, make_org_with_key

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# The times the test gives the runs (the worker's clock cannot be moved, so rows are).
FIRST_RUN_SECONDS = 50  # until the cloud takes the instance back
GAP_SECONDS = 30  # at least, between the runs: never billed
SECOND_RUN_SECONDS = 70  # until the buyer terminates it


def _running(reservation_id: int, *, runs: int) -> Reservation | None:
    reservation = Reservation.objects.filter(pk=reservation_id, status="running").first()
    return reservation if reservation and reservation.runs.count() == runs else None


def _line_once_metered(reservation_id: int) -> InvoiceLine | None:
    """The compute line, once it holds every interval recorded for the runs, each to its end:
    the intervals are committed before the line is brought up to date, in a later step."""
    runs = Reservation.objects.get(pk=reservation_id).runs.all()
    usage = UsageRecord.objects.filter(reservation_id=reservation_id)
    recorded_to_the_end = all(
        run.ended_at and usage.filter(run=run, interval_end=run.ended_at).exists() for run in runs
    )
    line = InvoiceLine.objects.filter(reservation_id=reservation_id, component="compute").first()
    recorded_seconds = sum(
        (u.interval_end - u.interval_start).total_seconds() for u in usage.filter(run__isnull=False)
    )
    return line if recorded_to_the_end and line and line.seconds == recorded_seconds else None


def test_a_preempted_spot_reservation_runs_again_and_is_billed_per_run(
    celery_worker_process, api_client
):
    # given a spot reservation with auto_relaunch, launched and running through the worker
    buyer = make_org_with_key(role="buyer")
    offer = OfferFactory(
        provider=ProviderFactory(), pricing="spot", price_per_hour=Decimal("3.600000"), available=1
    )
    created = api_client.post(
        "/api/v1/reservations/",
        {"offer": offer.pk, "hours": "1", "auto_relaunch": True},
        format="json",
        **buyer.headers,
    )
    assert created.status_code == 201, created.content
    reservation_id = created.json()["id"]
    first = wait_until(lambda: _running(reservation_id, runs=1), what="the first run")
    # started long enough ago for the first run and the gap to end before the second starts
    first_start = backdate_running(
        reservation_id, seconds=FIRST_RUN_SECONDS + GAP_SECONDS + SECOND_RUN_SECONDS
    )

    # when the cloud takes the instance back FIRST_RUN_SECONDS after it started, and the
    # beat's running check comes by
    preempted_at = first_start + timedelta(seconds=FIRST_RUN_SECONDS)
    simulated_instances_preempt(instance_ids=[first.instance_id], at=preempted_at)
    check_running_reservations.delay()

    # then it runs again, on a new instance, through the same launch path
    second = wait_until(lambda: _running(reservation_id, runs=2), what="the relaunch")
    assert second.instance_id != first.instance_id
    assert list(second.events.values_list("to_status", flat=True)) == [
        "pending", "launching", "running", "preempted", "pending", "launching", "running",
    ]  # fmt: skip
    assert Offer.objects.get(pk=offer.pk).available == 0
    second_start = backdate_running(reservation_id, seconds=SECOND_RUN_SECONDS)

    # when the buyer terminates it
    asked = timezone.now().replace(microsecond=0)
    response = api_client.post(f"/api/v1/reservations/{reservation_id}/terminate/", **buyer.headers)
    assert response.status_code == 202
    wait_until(
        lambda: Reservation.objects.filter(pk=reservation_id, status="terminated").exists(),
        what="termination",
    )
    terminated = timezone.now()

    # then each run is metered from its start to its end, and the gap between them is not
    line = wait_until(lambda: _line_once_metered(reservation_id), what="the invoice line")
    runs = list(Reservation.objects.get(pk=reservation_id).runs.order_by("number"))
    assert [(run.number, run.started_at) for run in runs] == [(1, first_start), (2, second_start)]
    assert runs[0].ended_at == preempted_at
    assert runs[1].started_at - preempted_at >= timedelta(seconds=GAP_SECONDS)
    assert asked <= runs[1].ended_at <= terminated  # ended on the worker's clock
    for run in runs:
        intervals = list(UsageRecord.objects.filter(run=run).order_by("interval_start"))
        assert intervals[0].interval_start == run.started_at
        assert intervals[-1].interval_end == run.ended_at
        assert all(a.interval_end == b.interval_start for a, b in pairwise(intervals))
    second_run_seconds = int((runs[1].ended_at - second_start).total_seconds())
    assert second_run_seconds >= SECOND_RUN_SECONDS  # and the few the termination took
    seconds = FIRST_RUN_SECONDS + second_run_seconds
    assert UsageRecord.objects.filter(reservation_id=reservation_id, run__isnull=True).count() == 0
    assert line.seconds == seconds
    cents = (Decimal(seconds) * Decimal("3.60") / 3600).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert line.amount == cents
    assert Offer.objects.get(pk=offer.pk).available == 1
