"""Every Celery task named by string is a registered task.

The marketplace hands work to brokers and billing by task name (it may not import them), the
listed launcher queues its own tasks by name, and beat entries name tasks: a misspelt name
raises nothing when sent, the message just waits in the queue for a worker that has no such
task. So the names are checked here against what the worker registers.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

import pytest
from django.conf import settings

from brokers.launchers import listed
from config.celery import app
from marketplace import handoff

ROOT = Path(__file__).resolve().parents[1]
TASK_NAME = re.compile(r"^(brokers|billing)\.[a-z][a-z0-9_]*$")
SCANNED_APPS = ("accounts", "billing", "brokers", "common", "config", "marketplace")


def registered_tasks() -> set[str]:
    app.loader.import_default_modules()  # autodiscovery, as a worker does at start-up
    return set(app.tasks)


def constants_of(module) -> dict[str, str]:
    """The module's UPPER_CASE strings that look like task names."""
    return {
        name: value
        for name, value in vars(module).items()
        if name.isupper() and isinstance(value, str) and TASK_NAME.match(value)
    }


def beat_tasks() -> dict[str, str]:
    return {entry: spec["task"] for entry, spec in settings.CELERY_BEAT_SCHEDULE.items()}


def source_files():
    for app_name in SCANNED_APPS:
        for path in (ROOT / app_name).rglob("*.py"):
            parts = path.relative_to(ROOT).parts
            if "tests" not in parts and "migrations" not in parts:
                yield path


def task_name_literals() -> dict[str, str]:
    """Every string literal in the apps' code (tests and migrations aside) that looks like a
    task name, by where it is: a guard for names handed on outside the constants above.
    Module paths ("billing.urls") look alike and are left out."""
    found = {}
    for path in source_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            value = node.value if isinstance(node, ast.Constant) else None
            if isinstance(value, str) and TASK_NAME.match(value) and not is_module(value):
                found[f"{path.relative_to(ROOT)}:{node.lineno}"] = value
    return found


def is_module(dotted: str) -> bool:
    return importlib.util.find_spec(dotted) is not None


@pytest.mark.parametrize(
    "names",
    [constants_of(handoff), constants_of(listed), beat_tasks()],
    ids=["marketplace.handoff", "brokers.launchers.listed", "CELERY_BEAT_SCHEDULE"],
)
def test_every_task_handed_on_by_name_is_registered(names):
    assert names  # the collection found something to check
    unknown = {where: name for where, name in names.items() if name not in registered_tasks()}
    assert unknown == {}


def test_every_task_name_in_the_source_is_registered():
    literals = task_name_literals()
    # the scan sees the names the modules above hand on (so it reads the right files)
    assert set(constants_of(handoff).values()) | set(constants_of(listed).values()) <= set(
        literals.values()
    )
    unknown = {where: name for where, name in literals.items() if name not in registered_tasks()}
    assert unknown == {}
