"""Billing's answers to what the marketplace tells it (marketplace/signals.py)."""

from __future__ import annotations

from billing.services.funds import funds_check_reservation
from billing.services.invoices import invoice_drafts_update_for_reservation
from billing.services.usage import usage_trim_to_run_end


def on_run_closed(sender, *, run, **kwargs) -> None:
    """In the transaction that ends the run: nothing metered past its end stays billed."""
    if usage_trim_to_run_end(run=run):
        invoice_drafts_update_for_reservation(reservation_id=run.reservation_id)


def on_reservation_creating(sender, *, org, currency, amount, **kwargs) -> None:
    """In the reservation's transaction, before its capacity is taken: refuse it when the
    organization's funds or budget do not cover it (the DomainError rolls it back)."""
    funds_check_reservation(org=org, currency=currency, amount=amount)
