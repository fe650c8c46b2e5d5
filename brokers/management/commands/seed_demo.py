"""python manage.py seed_demo: demo offers (through the real pricing path) and a demo user.

Safe to run again: offers are upserted, the user and organization are created once, and
its prepaid credit is given once.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from accounts.models import Organization, Role, User
from accounts.services import api_key_create, organization_create
from brokers.services.sync import refresh_source

DEMO_EMAIL = "demo@gpumarket.local"
DEMO_PASSWORD = "demo-password-123"
DEMO_CATALOG = settings.BASE_DIR / "demo" / "catalog"


class Command(BaseCommand):
    help = "Load demo offers and a demo account (idempotent)."

    def handle(self, *args, **options):
        for source, path in (("simulated", None), ("skypilot-catalog", str(DEMO_CATALOG))):
            sync = refresh_source(source_name=source, path=path)
            self.stdout.write(
                f"{source}: {sync.status}, {sync.rows_read} rows, {sync.created} new, {sync.updated} updated, "
                f"{sync.unchanged} unchanged"
            )
        self._demo_account()

    def _demo_account(self) -> None:
        user = User.objects.filter(email=DEMO_EMAIL).first()
        if user is None:
            user = User.objects.create_user(DEMO_EMAIL, DEMO_PASSWORD, name="Demo Buyer")
        org = Organization.objects.filter(memberships__user=user).first()
        if org is None:
            org = organization_create(user=user, name="Demo Co")
        self.stdout.write(f"demo login: {DEMO_EMAIL} / {DEMO_PASSWORD} (organization {org.slug})")
        # Its prepaid credit, so that it may reserve with ORG_CREDIT_LIMIT 0; by command name,
        # as brokers may not import billing.
        call_command("seed_demo_credit", org.slug, stdout=self.stdout)
        if not org.api_keys.exists():
            issued = api_key_create(org=org, created_by=user, name="demo", role=Role.OWNER)
            self.stdout.write(f"demo API key (shown once): {issued.secret}")
