from django.db import models


class SyncStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    PARTIAL = "partial", "Succeeded with row errors"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped: another sync of the source was running"


class PriceSync(models.Model):
    """One run of one pricing source: what it read and what it changed."""

    source = models.CharField(max_length=60)
    path = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=20, choices=SyncStatus.choices, default=SyncStatus.RUNNING)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    rows_read = models.PositiveIntegerField(default=0)
    rows_skipped = models.PositiveIntegerField(
        default=0, help_text="CPU-only and other non-GPU rows."
    )
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    withdrawn = models.PositiveIntegerField(default=0)
    stale = models.PositiveIntegerField(
        default=0, help_text="Offers of this source's providers that went stale in this run."
    )
    suspect_flagged = models.PositiveIntegerField(
        default=0, help_text="Offers flagged suspect (or with a new reason) by the price check."
    )
    suspect_cleared = models.PositiveIntegerField(
        default=0, help_text="Offers no longer suspect after the price check."
    )
    providers = models.JSONField(
        default=list, blank=True, help_text="Slugs of the providers this run listed offers for."
    )
    unknown_labels = models.JSONField(default=dict, blank=True, help_text="label -> rows")
    errors = models.JSONField(default=list, blank=True)
    full = models.BooleanField(
        default=False, help_text="Every input was read, changed or not (refresh_prices --full)."
    )
    inputs = models.JSONField(
        default=list,
        blank=True,
        help_text="Per input (file, page, response): its fingerprint, what it gave, and "
        "whether it was read, skipped as unchanged since the last sync, or failed.",
    )

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["source", "-started_at"], name="pricesync_source_time")]

    def __str__(self) -> str:
        return f"{self.source} @ {self.started_at:%Y-%m-%d %H:%M}"


class SimulatedInstance(models.Model):
    """An instance of the built-in simulated cloud. Its state lives in the database so that
    every worker process sees the same cloud."""

    instance_id = models.CharField(max_length=64, unique=True)
    idempotency_key = models.CharField(max_length=200, unique=True)
    sku = models.CharField(max_length=200)
    region = models.CharField(max_length=100, blank=True)
    units = models.PositiveIntegerField(default=1)
    state = models.CharField(max_length=20)
    ready_at = models.DateTimeField(help_text="When a pending instance becomes running.")
    preempt_at = models.DateTimeField(
        null=True, blank=True, help_text="When a spot instance is taken back by the cloud."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    terminated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.instance_id} ({self.state})"
