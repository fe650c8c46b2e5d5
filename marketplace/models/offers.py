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


# Search and quotes (migration 0005_search_indexes; the plans behind them: docs/quotes.md,
# "Speed"). Partial on the listed offers (active and stale: what searches show by default
# and quotes read), which is the condition every such query carries. Each sort column has
# one index, read forwards or backwards (ties break on id in the sort's direction); the
# GPU-first ones serve a filter on one GPU model, which searches and quotes run one model at
# a time (marketplace/search/partition.py). None covers observed_at or available: syncs bump
# observed_at on every run and reservations move `available`, and an indexed column would
# make those heap-only updates write every index. Region filters (`region=eu-*`) compare
# lower(region) with LIKE: that index (text_pattern_ops) is plain SQL in the migration.
LISTED = Q(status__in=["active", "stale"])
SEARCH_INDEXES = [
    models.Index(
        fields=["price_per_gpu_hour", "id"], condition=LISTED, name="offer_listed_gpu_price"
    ),
    models.Index(fields=["price_per_hour", "id"], condition=LISTED, name="offer_listed_price"),
    models.Index(fields=["gpu_count", "id"], condition=LISTED, name="offer_listed_gpus"),
    models.Index(fields=["gpu_memory_gb", "id"], condition=LISTED, name="offer_listed_vram"),
    models.Index(
        fields=["gpu", "price_per_gpu_hour", "id"], condition=LISTED, name="offer_gpu_gpu_price"
    ),
    models.Index(fields=["gpu", "price_per_hour", "id"], condition=LISTED, name="offer_gpu_price"),
    # With the (gpu_id, gpu_memory_gb) statistics of the migration, lets the planner see at
    # once that `gpu=A100 vram>=80GB` holds nothing for the 40 GB A100.
    models.Index(
        fields=["gpu", "gpu_memory_gb", "gpu_count"], condition=LISTED, name="offer_gpu_shape"
    ),
    models.Index(fields=["country"], condition=LISTED, name="offer_listed_country"),
    # Quotes read one GPU model in one pricing model at a time; suspect prices, which sit at
    # the bottom of every price order, are counted apart.
    models.Index(
        fields=["gpu", "pricing", "price_per_gpu_hour", "id"],
        condition=LISTED & Q(suspect=False),
        name="offer_quote_gpu_pricing",
    ),
    models.Index(
        fields=["pricing", "price_per_gpu_hour", "id"],
        condition=LISTED & Q(suspect=False),
        name="offer_quote_pricing",
    ),
    models.Index(
        fields=["gpu", "price_per_gpu_hour"],
        condition=LISTED & Q(suspect=True),
        name="offer_suspect_gpu_price",
    ),
]


class PriceFeed(models.Model):
    """One input of a pricing source ("aws/vms.csv" of the SkyPilot catalog, a provider's
    price page): the offers a sync wrote from it point here, so that an input that has not
    changed since the last sync is skipped (its offers are touched, not re-parsed) and a
    complete sync withdraws only what its own inputs no longer list."""

    source = models.CharField(max_length=60)
    name = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "name"], name="uniq_price_feed")]

    def __str__(self) -> str:
        return f"{self.source}: {self.name}"


class Offer(models.Model):
    """A purchasable unit: `available` instances of `sku` in one place at one price.

    Price syncs rewrite every row on every run (at least `observed_at`), so each index costs
    on every sync: the foreign keys have no index of their own (the composite indexes below
    start with them), and `observed_at` is in no index, so its bump stays a heap-only update
    (marketplace/services/offers.py; the table's fillfactor is 50, migration 0004).
    """

    provider = models.ForeignKey(
        "marketplace.Provider", on_delete=models.PROTECT, related_name="offers", db_index=False
    )
    sku = models.CharField(max_length=200)
    gpu = models.ForeignKey(
        "marketplace.GpuModel", null=True, blank=True, on_delete=models.PROTECT, db_index=False
    )
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
    # The pricing-source input that last wrote the offer; NULL for offers that providers list
    # through the API (and for those written before feeds existed). No index of its own: the
    # sync's queries on it also filter on provider_id, which the identity index starts with.
    # No constraint in the database either: its check would cost every inserted offer a
    # lookup at commit (0.4 s of a 100,000-offer first refresh); feeds are only ever created
    # by the sync that writes their ids, and never deleted by it (deleting one through the
    # ORM still sets its offers' feed to NULL).
    feed = models.ForeignKey(
        PriceFeed,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="offers",
        db_index=False,
        db_constraint=False,
    )
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
                fields=["gpu", "status", "price_per_gpu_hour"], name="offer_gpu_status_price"
            ),
            models.Index(fields=["provider", "status"], name="offer_provider_status"),
            *SEARCH_INDEXES,
        ]

    def __str__(self) -> str:
        return f"{self.provider_id}:{self.sku}@{self.region or '-'} {self.pricing}"

    @property
    def total_gpu_memory_gb(self):
        return self.gpu_memory_gb * self.gpu_count


class OfferPrice(models.Model):
    """Price history: a point is appended only when the price changes."""

    # no index of its own: offerprice_offer_time starts with it
    offer = models.ForeignKey(
        Offer, on_delete=models.CASCADE, related_name="price_history", db_index=False
    )
    price_per_hour = models.DecimalField(max_digits=14, decimal_places=6)
    currency = models.CharField(max_length=3, default="USD")
    observed_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["offer", "-observed_at"], name="offerprice_offer_time")]
        ordering = ["-observed_at"]

    def __str__(self) -> str:
        return f"{self.offer_id}: {self.price_per_hour} {self.currency} at {self.observed_at:%Y-%m-%d %H:%M}"


__all__ = ["Offer", "OfferPrice", "OfferStatus", "PriceFeed", "PricingModel"]
