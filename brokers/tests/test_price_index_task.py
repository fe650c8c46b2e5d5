"""The beat's price index task: scheduled, on the pricing queue, and a thin wrapper over
marketplace/services/price_index_rollup.py (whose figures marketplace/tests/
test_price_index_rollup.py checks against the live computation)."""

from __future__ import annotations

import pytest
import time_machine
from django.conf import settings

from brokers.tasks import refresh_price_index
from marketplace.models import PriceIndexRow
from marketplace.services.price_index_rollup import FILTERS, HORIZON_DAYS
from marketplace.tests.price_index_fixtures import NOW, build_history

pytestmark = pytest.mark.django_db


def test_the_beat_runs_it_every_refresh_period():
    entry = settings.CELERY_BEAT_SCHEDULE["refresh-price-index"]

    assert entry["task"] == "brokers.refresh_price_index" == refresh_price_index.name
    assert entry["schedule"] == settings.PRICE_INDEX_REFRESH_SECONDS


@time_machine.travel(NOW, tick=False)
def test_a_first_run_fills_the_longest_window_and_a_second_only_today():
    build_history()  # H100 and A100 offers

    assert refresh_price_index.apply().get() == 2 * len(FILTERS) * HORIZON_DAYS
    assert refresh_price_index.apply().get() == 2 * len(FILTERS)
    assert PriceIndexRow.objects.count() == 2 * len(FILTERS) * HORIZON_DAYS
