from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import models


class ProviderKind(models.TextChoices):
    CLOUD = "cloud", "Cloud (system, priced from a catalog)"
    LISTED = "listed", "Listed by an organization through the API"
    SIMULATED = "simulated", "Simulated cloud"


# Providers that we list from pricing sources, not organizations: only these may receive a
# sync's offers (`brokers.services.normalise.ProviderCache`).
SYSTEM_PROVIDER_KINDS = (ProviderKind.CLOUD, ProviderKind.SIMULATED)


class ProviderQuerySet(models.QuerySet):
    def system(self) -> ProviderQuerySet:
        return self.filter(org__isnull=True, kind__in=SYSTEM_PROVIDER_KINDS)


class Provider(models.Model):
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True)
    kind = models.CharField(max_length=20, choices=ProviderKind.choices, default=ProviderKind.CLOUD)
    org = models.ForeignKey(
        "accounts.Organization",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="providers",
        help_text="Owner of a listed provider; empty for system providers.",
    )
    # Registry name of the launcher that starts instances for this provider ("" = none).
    launcher = models.CharField(max_length=40, blank=True)
    config = models.JSONField(
        default=dict, blank=True, help_text="Launcher settings (never secrets)."
    )
    webhook_url = models.URLField(blank=True)
    webhook_secret = models.CharField(max_length=100, blank=True)
    # A rotation's overlap: deliveries are signed with both secrets until it ends, so that
    # the provider can switch its verifier without losing one (docs/provider-api.md).
    previous_webhook_secret = models.CharField(max_length=100, blank=True)
    previous_webhook_secret_expires_at = models.DateTimeField(null=True, blank=True)
    # Rates for all-in quotes; documented defaults where a provider publishes none.
    disk_price_per_gb_month = models.DecimalField(
        max_digits=12, decimal_places=6, default=Decimal("0.10")
    )
    egress_price_per_gb = models.DecimalField(
        max_digits=12, decimal_places=6, default=Decimal("0.01")
    )
    boot_seconds = models.PositiveIntegerField(default=120, help_text="Billed start-up time.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ProviderQuerySet.as_manager()

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name

    def webhook_signing_secrets(self, *, now: datetime) -> list[str]:
        """The secrets a delivery sent at `now` is signed with, the current one first."""
        expires_at = self.previous_webhook_secret_expires_at
        if self.previous_webhook_secret and expires_at is not None and now < expires_at:
            return [self.webhook_secret, self.previous_webhook_secret]
        return [self.webhook_secret]

    @property
    def is_system(self) -> bool:
        return self.org_id is None and self.kind in SYSTEM_PROVIDER_KINDS
