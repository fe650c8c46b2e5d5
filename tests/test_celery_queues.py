"""Tasks run on queues by what they wait on, each under a soft and a hard time limit, and
`make run` has a worker for every queue."""

from __future__ import annotations

import pytest
from django.conf import settings

from config.celery import app
from devtools.supervisor import OWN_QUEUES, PROVIDER_QUEUES

EXPECTED_QUEUES = {
    "billing.record_usage": "billing",
    "billing.record_reservation_usage": "billing",
    "billing.close_billing_periods": "billing",
    "brokers.launch_reservation": "launches",
    "brokers.terminate_reservation": "launches",
    "brokers.poll_reservation": "provider",
    "brokers.check_running_reservation": "provider",
    "brokers.deliver_launch_request": "provider",
    "brokers.refresh_prices": "pricing",
    "brokers.refresh_price_index": "pricing",
    "brokers.end_expired_reservations": "celery",
    "brokers.retry_stuck_terminations": "celery",
}


def our_tasks() -> list[str]:
    app.loader.import_default_modules()
    return sorted(name for name in app.tasks if name.startswith(("billing.", "brokers.")))


def queue_of(task_name: str) -> str:
    route = app.amqp.router.route({}, task_name)
    return route["queue"].name


@pytest.mark.parametrize(("task_name", "queue"), EXPECTED_QUEUES.items())
def test_tasks_go_to_the_queue_of_what_they_wait_on(task_name, queue):
    assert queue_of(task_name) == queue


def test_every_task_goes_to_a_declared_queue_that_make_run_consumes():
    declared = set(settings.CELERY_QUEUE_NAMES)
    assert {queue.name for queue in settings.CELERY_TASK_QUEUES} == declared
    assert set(OWN_QUEUES) | set(PROVIDER_QUEUES) == declared
    assert not set(OWN_QUEUES) & set(PROVIDER_QUEUES)
    assert {task: queue_of(task) for task in our_tasks() if queue_of(task) not in declared} == {}
    # billing never shares a worker with what waits on providers
    assert "billing" in OWN_QUEUES and {"provider", "launches"} <= set(PROVIDER_QUEUES)


def test_every_task_has_a_soft_and_a_hard_time_limit():
    for name in our_tasks():
        task = app.tasks[name]
        soft = task.soft_time_limit or app.conf.task_soft_time_limit
        hard = task.time_limit or app.conf.task_time_limit
        assert soft and hard and soft < hard, name
    assert app.tasks["brokers.refresh_prices"].soft_time_limit == 1800
