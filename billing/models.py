from django.db import models
from django.db.models import Q


class UsageRecord(models.Model):
    """Seconds of a running reservation in [interval_start, interval_end). Each interval is
    recorded exactly once: (reservation, interval_start) is unique and intervals chain."""

    reservation = models.ForeignKey(
        "marketplace.Reservation", on_delete=models.PROTECT, related_name="usage"
    )
    # The stretch of running time this interval belongs to (empty only on rows older than runs).
    run = models.ForeignKey(
        "marketplace.ReservationRun",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="usage",
    )
    org = models.ForeignKey("accounts.Organization", on_delete=models.PROTECT, related_name="usage")
    interval_start = models.DateTimeField()
    interval_end = models.DateTimeField()
    seconds = models.PositiveIntegerField()
    price_per_hour = models.DecimalField(max_digits=14, decimal_places=6)
    currency = models.CharField(max_length=3)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["reservation", "interval_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["reservation", "interval_start"], name="uniq_usage_interval"
            ),
            models.CheckConstraint(
                condition=Q(interval_end__gt=models.F("interval_start")), name="usage_positive"
            ),
        ]
        indexes = [models.Index(fields=["org", "interval_start"], name="usage_org_start")]

    def __str__(self) -> str:
        return f"{self.reservation_id}: {self.interval_start:%Y-%m-%d %H:%M:%S} +{self.seconds}s"


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    FINALIZED = "finalized", "Finalized"
    PAID = "paid", "Paid"
    VOID = "void", "Void"


class Invoice(models.Model):
    org = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="invoices"
    )
    period_start = models.DateTimeField()
    period_end = models.DateTimeField(help_text="Exclusive: the period is [start, end).")
    currency = models.CharField(max_length=3, default="USD")
    status = models.CharField(
        max_length=20, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT
    )
    number = models.CharField(max_length=30, null=True, blank=True, unique=True)
    total = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-period_start", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["org", "period_start", "currency"],
                condition=Q(status="draft"),
                name="uniq_draft_invoice_per_period",
            )
        ]

    def __str__(self) -> str:
        return self.number or f"Draft {self.pk} ({self.period_start:%Y-%m})"


class InvoiceLine(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    reservation = models.ForeignKey(
        "marketplace.Reservation", on_delete=models.PROTECT, related_name="+"
    )
    description = models.CharField(max_length=300)
    seconds = models.PositiveIntegerField()
    price_per_hour = models.DecimalField(max_digits=14, decimal_places=6)
    # Rounded once, here, to the currency's precision.
    amount = models.DecimalField(max_digits=16, decimal_places=2)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["invoice", "reservation", "price_per_hour"], name="uniq_invoice_line"
            )
        ]

    def __str__(self) -> str:
        return self.description
