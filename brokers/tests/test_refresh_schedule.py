"""PRICING_SCHEDULE: one Celery beat entry per pricing source, each on its own schedule."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from brokers.schedule import ScheduleEntry, parse_pricing_schedule

ROOT = Path(__file__).resolve().parents[2]
CATALOG_URL = "https://raw.githubusercontent.com/skypilot-org/skypilot-catalog/master/catalogs/v8"


def beat_schedule(schedule: str) -> tuple[int, dict]:
    """CELERY_BEAT_SCHEDULE as a fresh process builds it from the environment."""
    code = (
        "import json, config.settings as s; "
        "print(json.dumps({k: v for k, v in s.CELERY_BEAT_SCHEDULE.items()}))"
    )
    env = {**os.environ, "PRICING_SCHEDULE": schedule}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    return done.returncode, json.loads(done.stdout) if done.returncode == 0 else done.stderr


def test_each_source_gets_its_own_beat_entry_with_its_interval_and_url():
    code, schedule = beat_schedule(f"simulated:300,skypilot-catalog:86400:{CATALOG_URL},vast:1800")

    assert code == 0
    assert schedule["refresh-prices-simulated"] == {
        "task": "brokers.refresh_prices", "schedule": 300.0, "args": ["simulated"],
    }  # fmt: skip
    assert schedule["refresh-prices-skypilot-catalog"] == {
        "task": "brokers.refresh_prices", "schedule": 86400.0,
        "args": ["skypilot-catalog", CATALOG_URL],
    }  # fmt: skip
    assert schedule["refresh-prices-vast"]["schedule"] == 1800.0
    assert schedule["offers-upkeep"] == {"task": "brokers.offers_upkeep", "schedule": 600}


def test_a_malformed_schedule_stops_start_up_naming_the_variable():
    code, stderr = beat_schedule("simulated:often")

    assert code != 0
    assert "PRICING_SCHEDULE entries must be source:seconds[:path]" in stderr


@pytest.mark.parametrize(
    ("raw", "entries"),
    [
        ("simulated:300", [ScheduleEntry("simulated", 300.0, "")]),
        (
            " vast:1800 , skypilot-catalog:86400:/data/catalog ",
            [
                ScheduleEntry("vast", 1800.0, ""),
                ScheduleEntry("skypilot-catalog", 86400.0, "/data/catalog"),
            ],
        ),  # fmt: skip
        (
            f"skypilot-catalog:3600:{CATALOG_URL}",
            [ScheduleEntry("skypilot-catalog", 3600.0, CATALOG_URL)],
        ),
    ],
)
def test_it_reads_schedule_entries(raw, entries):
    assert parse_pricing_schedule(raw) == entries


@pytest.mark.parametrize("raw", ["simulated", "simulated:", "simulated:0", ":300", "vast:-5"])
def test_it_refuses_entries_without_a_positive_interval(raw):
    with pytest.raises(ValueError, match=f"^entries must be source:seconds.*got '{raw}'$"):
        parse_pricing_schedule(raw)
