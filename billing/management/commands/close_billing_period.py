"""python manage.py close_billing_period [--period YYYY-MM]: finalise every organization's
invoice for a month that has ended (default: last month). Safe to run twice: the second run
finalises nothing."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from billing.periods import parse_period, previous_month_start
from billing.services.finalisation import billing_period_close
from common.errors import DomainError


class Command(BaseCommand):
    help = "Finalise every organization's invoice for a billing period that has ended."

    def add_arguments(self, parser):
        parser.add_argument("--period", help="the month, YYYY-MM (default: last month)")

    def handle(self, *args, period=None, **options):
        try:
            start = parse_period(period) if period else previous_month_start(timezone.now())
            invoices = billing_period_close(period=start)
        except DomainError as error:
            raise CommandError(error.message) from None
        for invoice in invoices:
            self.stdout.write(
                f"{invoice.number}  org {invoice.org_id}  {invoice.total} {invoice.currency}"
            )
        self.stdout.write(f"{start:%Y-%m}: {len(invoices)} invoice(s) finalised.")
