"""Preemption for real: the worker launches a spot reservation, the cloud takes the instance
back, the beat's running check notices, and the reservation (auto_relaunch) runs again on a
new instance. Billing meters both runs and not the gap. PostgreSQL, Redis and a Celery
worker process are real; the simulated cloud is preempted the way an operator does it."""

from __future__ import annotations

import time
from decimal import Decimal
from itertools import pairwise

import pytest

from billing.models import InvoiceLine, UsageRecord
from brokers.simulated import simulated_instances_preempt
from brokers.tasks import check_running_reservations
from conftest import wait_until
from marketplace.models import Offer, Reservation
from tests.factories import OfferFactory, ProviderFactory, make_org_with_key

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _running(reservation_id: int, *, runs: int) -> Reservation | None:
    reservation = Reservation.objects.filter(pk=reservation_id, status="running").first()
    return reservation if reservation and reservation.runs.count() == runs else None


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
    time.sleep(1.2)  # a billable second or so

    # when the cloud takes the instance back and the beat's running check comes by
    simulated_instances_preempt(instance_ids=[first.instance_id])
    check_running_reservations.delay()

    # then it runs again, on a new instance, through the same launch path
    second = wait_until(lambda: _running(reservation_id, runs=2), what="the relaunch")
    assert second.instance_id != first.instance_id
    assert list(second.events.values_list("to_status", flat=True)) == [
        "pending", "launching", "running", "preempted", "pending", "launching", "running",
    ]  # fmt: skip
    assert Offer.objects.get(pk=offer.pk).available == 0
    time.sleep(1.2)

    # when the buyer terminates it
    response = api_client.post(f"/api/v1/reservations/{reservation_id}/terminate/", **buyer.headers)
    assert response.status_code == 202
    wait_until(
        lambda: Reservation.objects.filter(pk=reservation_id, status="terminated").exists(),
        what="termination",
    )

    # then each run is metered from its start to its end, and the gap between them is not
    line = wait_until(
        lambda: InvoiceLine.objects.filter(reservation_id=reservation_id).first(),
        what="the invoice line",
    )
    runs = list(Reservation.objects.get(pk=reservation_id).runs.order_by("number"))
    assert [run.number for run in runs] == [1, 2]
    assert runs[0].ended_at <= runs[1].started_at
    for run in runs:
        intervals = list(UsageRecord.objects.filter(run=run).order_by("interval_start"))
        assert intervals[0].interval_start == run.started_at
        assert intervals[-1].interval_end == run.ended_at
        assert all(a.interval_end == b.interval_start for a, b in pairwise(intervals))
    run_seconds = sum(int((r.ended_at - r.started_at).total_seconds()) for r in runs)
    assert UsageRecord.objects.filter(reservation_id=reservation_id, run__isnull=True).count() == 0
    assert line.seconds == run_seconds >= 2
    assert Offer.objects.get(pk=offer.pk).available == 1
