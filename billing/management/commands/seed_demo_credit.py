"""python manage.py seed_demo_credit <org slug>: the demo organization's prepaid credit
(25.00 USD), posted once (seed_demo runs it: brokers may not import billing)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Organization
from billing.services.funds import DEMO_CREDIT, demo_credit_grant


class Command(BaseCommand):
    help = "Give the demo organization its prepaid credit, once."

    def add_arguments(self, parser):
        parser.add_argument("org", help="the organization's slug")

    def handle(self, *args, org, **options):
        organization = Organization.objects.filter(slug=org).first()
        if organization is None:
            raise CommandError(f"No organization {org!r}.")
        if demo_credit_grant(org=organization):
            self.stdout.write(f"demo prepaid credit: {DEMO_CREDIT} USD")
        else:
            self.stdout.write("demo prepaid credit: given before")
