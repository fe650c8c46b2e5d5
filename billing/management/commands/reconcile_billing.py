"""python manage.py reconcile_billing [--period YYYY-MM]: check that invoices, credit notes,
the ledger and usage agree (billing.services.reconciliation); print what disagrees and exit
non-zero if anything does."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from billing.periods import parse_period
from billing.services.reconciliation import billing_reconcile
from common.errors import DomainError


class Command(BaseCommand):
    help = "Check that invoices, credit notes, the ledger and usage agree; non-zero exit if not."

    def add_arguments(self, parser):
        parser.add_argument("--period", help="only this month's invoices and usage, YYYY-MM")

    def handle(self, *args, period=None, **options):
        try:
            start = parse_period(period) if period else None
        except DomainError as error:
            raise CommandError(error.message) from None
        mismatches = billing_reconcile(period=start)
        scope = f"{start:%Y-%m}" if start else "all periods"
        for mismatch in mismatches:
            self.stdout.write(str(mismatch))
        if mismatches:
            raise CommandError(f"{scope}: {len(mismatches)} mismatch(es).")
        self.stdout.write(f"{scope}: invoices, credit notes, ledger and usage agree.")
