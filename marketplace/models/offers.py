from django.db import models
from django.db.models import Q


class PricingModel(models.TextChoices):
    ON_DEMAND = "on_demand", "On demand"
    SPOT = "spot", "Spot (interruptible)"
    RESERVED = "reserved", "Reserved"


class OfferStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    STALE = "stale", "Stale (older than its source's freshness limit)"
    WITHDRAWN = "withdrawn", "Withdrawn"


class Offer(models.Model):
    """A purchasable unit: `available` instances of `sku` in one place at one price."""

    provider = models.ForeignKey(
        "marketplace.Provider", on_delete=models.PROTECT, related_name="offers"
    )
    sku = models.CharField(max_length=200)
    gpu = models.ForeignKey("marketplace.GpuModel", null=True, blank=True, on_delete=models.PROTECT)
    gpu_count = models.PositiveSmallIntegerField(default=0)
    gpu_memory_gb = models.DecimalField(
        max_digits=7, decimal_places=1, default=0, help_text="Per GPU."
    )
    vcpus = models.DecimalField(max_digits=7, decimal_places=1, default=0)
    memory_gb = models.DecimalField(
        max_digits=9, decimal_places=1, default=0, help_text="Host RAM, GiB."
    )
    disk_gb = models.DecimalField(max_digits=9, decimal_places=1, default=0)
    region = models.CharField(max_length=100, blank=True)
    zone = models.CharField(max_length=100, blank=True)
    country = models.CharField(max_length=2, blank=True)
    continent = models.CharField(max_length=2, blank=True)
    pricing = models.CharField(
        max_length=20, choices=PricingModel.choices, default=PricingModel.ON_DEMAND
    )
    price_per_hour = models.DecimalField(max_digits=14, decimal_places=6)
    # Stored, not computed per query: the default sort and most filters use it, and an index
    # on an expression would have to be kept in step with the same arithmetic anyway.
    price_per_gpu_hour = models.DecimalField(max_digits=14, decimal_places=6)
    currency = models.CharField(max_length=3, default="USD")
    available = models.PositiveIntegerField(
        default=0, help_text="Instances that can be reserved now."
    )
    reliability = models.DecimalField(max_digits=5, decimal_places=4, null=True, blank=True)
    interconnect = models.CharField(max_length=20, blank=True)
    observed_at = models.DateTimeField()
    status = models.CharField(
        max_length=20, choices=OfferStatus.choices, default=OfferStatus.ACTIVE
    )
    suspect = models.BooleanField(default=False)
    suspect_reason = models.CharField(max_length=300, blank=True)
    extra = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "sku", "region", "zone", "pricing"], name="uniq_offer_identity"
            ),
            models.CheckConstraint(
                condition=Q(price_per_hour__gte=0), name="offer_price_not_negative"
            ),
        ]
        indexes = [
            models.Index(
                fields=["status", "price_per_gpu_hour", "id"], name="offer_status_gpu_price"
            ),
            models.Index(
                fields=["gpu", "status", "price_per_gpu_hour"], name="offer_gpu_status_price"
            ),
            models.Index(fields=["provider", "status"], name="offer_provider_status"),
        ]

    def __str__(self) -> str:
        return f"{self.provider_id}:{self.sku}@{self.region or '-'} {self.pricing}"

    @property
    def total_gpu_memory_gb(self):
        return self.gpu_memory_gb * self.gpu_count


class OfferPrice(models.Model):
    """Price history: a point is appended only when the price changes."""

    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="price_history")
    price_per_hour = models.DecimalField(max_digits=14, decimal_places=6)
    currency = models.CharField(max_length=3, default="USD")
    observed_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["offer", "-observed_at"], name="offerprice_offer_time")]
        ordering = ["-observed_at"]

    def __str__(self) -> str:
        return f"{self.offer_id}: {self.price_per_hour} {self.currency} at {self.observed_at:%Y-%m-%d %H:%M}"


__all__ = ["Offer", "OfferPrice", "OfferStatus", "PricingModel"]
