"""ledger_backfill: invoices finalised, voided and credited before the ledger existed get
their entries, the same as the posting at the time would have made, once.

The state (conftest `filed`): September filed as GM-2026-000001 (0.14), another
organization's September draft (10 s: 0.01), finalised here and voided, and a credit note of
0.10 on GM-2026-000001. The entries are then taken out as if the ledger had never been."""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.management import CommandError, call_command

from billing.models import Invoice, InvoiceStatus, JournalEntry, JournalLine
from billing.services.credit_notes import CreditRequest, credit_note_issue, invoice_void
from billing.services.finalisation import invoice_finalize
from billing.services.ledger import ledger_backfill
from billing.tests.conftest import CLOSED_AT
from billing.tests.test_reconciliation import _triggers_off

pytestmark = pytest.mark.django_db

VOIDED_AT = CLOSED_AT + timedelta(hours=3)


def _ledger() -> set[tuple]:
    """Each entry as posted: kind, source, time, currency and its lines."""
    return {
        (
            entry.kind,
            entry.source_key,
            entry.posted_at,
            entry.currency,
            frozenset(
                entry.lines.values_list("account", "org_id", "provider_id", "debit", "credit")
            ),
        )
        for entry in JournalEntry.objects.all()
    }


def _run(command: str) -> str:
    out = io.StringIO()
    call_command(command, stdout=out)
    return out.getvalue()


@pytest.fixture
def before_the_ledger(filed):
    other = filed.other_org_invoice
    with time_machine.travel(CLOSED_AT + timedelta(hours=1), tick=False):
        invoice_finalize(invoice_id=other.pk)
    with time_machine.travel(VOIDED_AT, tick=False):
        invoice_void(invoice_id=other.pk)
    with time_machine.travel(CLOSED_AT + timedelta(hours=2), tick=False):
        credit_note_issue(
            invoice_id=filed.september.pk,
            request=CreditRequest(reason="slow", amount=Decimal("0.10")),
        )
    posted_at_the_time = _ledger()
    with _triggers_off():
        JournalLine.objects.all().delete()
        JournalEntry.objects.all().delete()
    return filed, posted_at_the_time


def test_it_posts_what_is_missing_as_it_would_have_been_posted(before_the_ledger):
    filed, posted_at_the_time = before_the_ledger
    assert Invoice.objects.get(pk=filed.other_org_invoice.pk).status == InvoiceStatus.VOID
    assert "mismatch" in _reconcile_failure()

    out = _run("ledger_backfill")

    assert out == "Posted 4 ledger entries (2 invoice, 1 void, 1 credit_note).\n"
    assert _ledger() == posted_at_the_time
    assert len(posted_at_the_time) == 4
    assert _run("reconcile_billing") == (
        "all periods: invoices, credit notes, ledger and usage agree.\n"
    )


def test_a_second_run_posts_nothing(before_the_ledger):
    _run("ledger_backfill")
    ledger = _ledger()

    assert (
        _run("ledger_backfill") == "Posted 0 ledger entries (0 invoice, 0 void, 0 credit_note).\n"
    )
    assert ledger_backfill() == {"invoice": 0, "void": 0, "credit_note": 0}
    assert _ledger() == ledger
    assert "agree" in _run("reconcile_billing")


def test_drafts_are_not_posted(filed):
    # given the filed state, each finalisation posted as it happened, and October's draft
    ledger = _ledger()
    assert ledger_backfill() == {"invoice": 0, "void": 0, "credit_note": 0}
    assert _ledger() == ledger
    assert not JournalEntry.objects.filter(source_key=f"invoice:{filed.october.pk}").exists()


def _reconcile_failure() -> str:
    try:
        _run("reconcile_billing")
    except CommandError as error:
        return str(error)
    return ""
