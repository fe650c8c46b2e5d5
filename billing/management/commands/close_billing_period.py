"""python manage.py close_billing_period [--period YYYY-MM]: finalise every organization's
invoice for a month that has ended (default: last month). Safe to run twice: the second run
finalises nothing."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from billing.services.finalisation import billing_period_close
from billing.services.usage import month_start
from common.errors import DomainError

PERIOD = re.compile(r"(\d{4})-(\d{2})")


def parse_period(text: str) -> datetime:
    """YYYY-MM as the first instant of that month, UTC; ValueError otherwise."""
    match = PERIOD.fullmatch(text)
    if match is None or not 1 <= int(match[2]) <= 12:
        raise ValueError(f"{text!r} is not a month written YYYY-MM (e.g. 2026-11).")
    return datetime(int(match[1]), int(match[2]), 1, tzinfo=UTC)


def last_month() -> datetime:
    return month_start(month_start(timezone.now()) - timedelta(days=1))


class Command(BaseCommand):
    help = "Finalise every organization's invoice for a billing period that has ended."

    def add_arguments(self, parser):
        parser.add_argument("--period", help="the month, YYYY-MM (default: last month)")

    def handle(self, *args, period=None, **options):
        try:
            start = parse_period(period) if period else last_month()
            invoices = billing_period_close(period=start)
        except (ValueError, DomainError) as error:
            raise CommandError(str(error)) from None
        for invoice in invoices:
            self.stdout.write(
                f"{invoice.number}  org {invoice.org_id}  {invoice.total} {invoice.currency}"
            )
        self.stdout.write(f"{start:%Y-%m}: {len(invoices)} invoice(s) finalised.")
