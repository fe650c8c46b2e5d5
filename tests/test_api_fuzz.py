"""Fuzz the whole API over HTTP: schemathesis reads /api/schema/ from a live server on
loopback and calls every operation (reads and writes) with generated input, valid and
invalid, as the owner of a seeded organization. No answer may be a 5xx, and every answer
must be what the schema documents for its status.

`make test` runs a small budget (FUZZ_EXAMPLES, default 4 cases per operation and mode);
`make fuzz` runs this file alone with a larger one (FUZZ_EXAMPLES=100 by default).
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from dataclasses import dataclass, field

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from accounts.services import api_key_create
from tests.api_seed import Seeded, seed_api_org

pytestmark = pytest.mark.fuzz

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES") or 4)
CHECKS = [not_a_server_error, response_schema_conformance]
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
# Rendering a PDF takes seconds of CPU, and these take nothing but the seeded id (and the
# ignored query): one valid call each.
PDFS = {"/api/v1/invoices/{invoice_id}/pdf/", "/api/v1/credit-notes/{credit_note_id}/pdf/"}
REQUEST_TIMEOUT_SECONDS = 120


@dataclass
class FuzzRun:
    """What was called and what failed: the figures the report prints."""

    operations: int = 0
    cases: int = 0
    statuses: Counter = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        statuses = " ".join(f"{code}:{n}" for code, n in sorted(self.statuses.items()))
        return (
            f"fuzz: {self.operations} operations, {self.cases} cases, "
            f"{len(self.failures)} failing operations; statuses {statuses}"
        )


@pytest.fixture
def fuzz_target(live_server) -> tuple[str, Seeded]:
    seeded = seed_api_org()
    owner = seeded.owner
    # a second key of the same organization: revoking or rotating it leaves ours working
    spare = api_key_create(org=owner.org, created_by=owner.user, name="spare", role="buyer")
    seeded.path_ids.update(provider_id=seeded.provider_id, key_id=spare.api_key.pk)
    return live_server.url, seeded


def test_no_operation_answers_a_server_error_or_breaks_the_schema(fuzz_target):
    # given the live API, its schema and a seeded organization's key
    base_url, seeded = fuzz_target
    schema = schemathesis.openapi.from_url(f"{base_url}/api/schema/?format=json")
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {seeded.owner.secret}"
    run = FuzzRun()
    # when every operation is called with generated input, valid and invalid
    for result in schema.get_all_operations():
        operation = result.ok()
        run.operations += 1
        for mode in _modes(operation):
            failure = _fuzz(operation, mode, base_url, session, seeded, run)
            if failure:
                run.failures[f"{operation.method.upper()} {operation.path} ({mode})"] = failure
    print(run.summary(), file=sys.stderr)
    # then none answered a 5xx or a body the schema does not describe
    assert run.failures == {}, "\n\n".join(f"{k}: {v}" for k, v in run.failures.items())
    assert run.operations >= 50
    assert run.cases >= (run.operations - len(PDFS)) * EXAMPLES


def _modes(operation) -> tuple[GenerationMode, ...]:
    return MODES[:1] if operation.path in PDFS else MODES


def _fuzz(operation, mode, base_url, session, seeded: Seeded, run: FuzzRun) -> str | None:
    examples = 1 if operation.path in PDFS else EXAMPLES

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def answers_as_documented(case):
        for name in case.path_parameters or {}:
            if name in seeded.path_ids:
                case.path_parameters[name] = seeded.path_ids[name]
        response = case.call_and_validate(
            base_url=base_url, session=session, checks=CHECKS, timeout=REQUEST_TIMEOUT_SECONDS
        )
        run.cases += 1
        run.statuses[response.status_code] += 1

    try:
        answers_as_documented()
    except Unsatisfiable:
        return None  # nothing to make invalid (no parameters, no body): no negative cases
    except Exception as exc:  # schemathesis' failure group: keep going, report them all
        return _describe(exc)
    return None


def _describe(exc: BaseException) -> str:
    causes = exc.exceptions if isinstance(exc, BaseExceptionGroup) else [exc]
    return "\n".join(f"{type(cause).__name__}: {cause}"[:2000] for cause in causes)
