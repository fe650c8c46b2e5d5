"""python manage.py ledger_backfill: post the ledger entry of every finalised invoice, void
and credit note that has none (billing.services.ledger.ledger_backfill); safe to run again."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from billing.services.ledger import ledger_backfill


class Command(BaseCommand):
    help = "Post the missing ledger entries of finalised invoices, voids and credit notes."

    def handle(self, *args, **options):
        posted = ledger_backfill()
        details = ", ".join(f"{count} {kind}" for kind, count in posted.items())
        self.stdout.write(f"Posted {sum(posted.values())} ledger entries ({details}).")
