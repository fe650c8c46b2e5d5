"""python manage.py build_statements [--period YYYY-MM]: put what became payable on each
provider's statement of a month that has ended (default: last month). Safe to run twice:
a line is on one statement at most. Payable statements are then paid by the
`billing.pay_statements` beat (or at once with --pay)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from billing.periods import parse_period, previous_month_start
from billing.services.payouts import statement_pay, statements_build
from common.errors import DomainError


class Command(BaseCommand):
    help = "Build the provider statements of a month that has ended."

    def add_arguments(self, parser):
        parser.add_argument("--period", help="the month, YYYY-MM (default: last month)")
        parser.add_argument("--pay", action="store_true", help="pay the statements built now")

    def handle(self, *args, period=None, pay=False, **options):
        try:
            start = parse_period(period) if period else previous_month_start(timezone.now())
            statements = statements_build(period=start)
        except DomainError as error:
            raise CommandError(error.message) from None
        for statement in statements:
            if pay:
                statement = statement_pay(statement_id=statement.pk)
            self.stdout.write(
                f"statement {statement.pk}  provider {statement.provider_id}  "
                f"net {statement.net} {statement.currency}  {statement.status}"
            )
        self.stdout.write(f"{start:%Y-%m}: {len(statements)} statement(s) built.")
