"""Billing's answers to what the marketplace tells it (marketplace/signals.py)."""

from __future__ import annotations

from billing.services.invoices import invoice_drafts_update_for_reservation
from billing.services.usage import usage_trim_to_run_end


def on_run_closed(sender, *, run, **kwargs) -> None:
    """In the transaction that ends the run: nothing metered past its end stays billed."""
    if usage_trim_to_run_end(run=run):
        invoice_drafts_update_for_reservation(reservation_id=run.reservation_id)
