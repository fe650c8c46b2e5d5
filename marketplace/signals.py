"""What the marketplace tells the apps above it, inside the transaction where it happens.

The marketplace never imports billing or brokers (the layers in pyproject.toml); an app
above it that must act in the same transaction connects a receiver in its AppConfig.ready.
"""

from __future__ import annotations

from django.dispatch import Signal

# Sent by `run_close` once a run's `ended_at` is saved, with the reservation row locked:
# `run` is the ReservationRun. Billing trims the usage metered past the end here, so a run
# never stays billed past its end, whatever happens to later tasks.
run_closed = Signal()

# Sent by `_create_locked` in the reservation's transaction, before the offer's capacity is
# taken: `org`, `currency` (the offer's) and `amount` (the reservation's quoted total, or
# None when nothing priced it). Billing checks the organization's funds and budget here and
# refuses with a DomainError (`insufficient_funds`, `budget_exceeded`, `account_past_due`),
# which rolls the reservation back; its lock orders the reservations of one organization.
reservation_creating = Signal()
