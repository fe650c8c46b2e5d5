from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower


class PricingModel(models.TextChoices):
    ON_DEMAND = "on_demand", "On demand"
    SPOT = "spot", "Spot (interruptible)"
    RESERVED = "reserved", "Reserved"


class OfferStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    STALE = "stale", "Stale (older than its source's freshness limit)"
    WITHDRAWN = "withdrawn", "Withdrawn"


# Search and quotes (migration 0007_wide_search_indexes; the plans behind them: docs/quotes.md,
# "Speed"). Partial on the listed offers (active and stale: what searches show by default
# and quotes read), which is the condition every such query carries.
#
# Each index is one sort order (price per GPU-hour, price, GPU count, GPU memory; and, for
# filters on one GPU model, price per GPU-hour and price within the model), read forwards or
# backwards (ties break on id), followed by the columns filters most often test. Those
# trailing columns never change the order; they let PostgreSQL test `country=DE`,
# `gpus>=4`, `pricing=spot`, `region=us-east-1` on the index entry itself while it walks the
# order, instead of fetching every passed-over row from the table: a selective filter whose
# matches sit late in the order (8-GPU instances are the dear ones) costs index entries, not
# table pages. One wide index per order rather than narrow ones per purpose, because every
# price sync writes each index on the table (docs/refresh.md, "Speed").
#
# None covers observed_at or available: syncs bump observed_at on every run and reservations
# move `available`, and an indexed column would make those heap-only updates write every
# index.
#
# Region filters use one more, in plain SQL (migration 0007, as Django cannot declare an
# operator class on an expression among other columns): lower(region) text_pattern_ops, so
# that `region=us-east-1` is a short range and `region=eu-*` a prefix (text_pattern_ops
# compares byte by byte, as LIKE 'eu-%' needs), then the provider, GPU and shape, which
# narrow `provider=runpod region=eu-west-1` to the matching entries alone.
LISTED = Q(status__in=["active", "stale"])
FILTER_COLUMNS = (
    F("pricing"),
    F("gpu_count"),
    F("suspect"),
    F("gpu_memory_gb"),
    F("provider"),
    F("country"),
    F("continent"),
    Lower("region"),
    F("reliability"),
    F("vcpus"),
    F("memory_gb"),
)


def _ordered_index(name: str, *order: str, condition: Q = LISTED) -> models.Index:
    """An index on `order` (then id), carrying the filter columns not already in `order`."""
    leading = [F(column) for column in (*order, "id")]
    trailing = [c for c in FILTER_COLUMNS if not (isinstance(c, F) and c.name in order)]
    if "gpu" not in order:
        trailing.insert(0, F("gpu"))
    return models.Index(*leading, *trailing, name=name, condition=condition)


SEARCH_INDEXES = [
    _ordered_index("offer_listed_gpu_price", "price_per_gpu_hour"),
    _ordered_index("offer_listed_price", "price_per_hour"),
    _ordered_index("offer_listed_gpus", "gpu_count"),
    _ordered_index("offer_listed_vram", "gpu_memory_gb"),
    # Searches and quotes that name a few GPU models read one model at a time
    # (marketplace/search/partition.py, marketplace/quoting/stream_layout.py).
    _ordered_index("offer_gpu_gpu_price", "gpu", "price_per_gpu_hour"),
    _ordered_index("offer_gpu_price", "gpu", "price_per_hour"),
    # Quotes read one GPU model in one pricing model at a time (marketplace/quoting/streams.py):
    # within a GPU model spot offers are the cheap ones, and an on-demand read in price
    # order would walk past them all.
    _ordered_index("offer_quote_gpu_pricing", "gpu", "pricing", "price_per_gpu_hour"),
    # Suspect prices sit at the bottom of every price order; quotes count them apart.
    _ordered_index(
        "offer_suspect_gpu_price", "gpu", "price_per_gpu_hour", condition=LISTED & Q(suspect=True)
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
    on every sync: the foreign keys have no index of their own (the identity constraint
    starts with the provider, the GPU-model search indexes with the GPU), and `observed_at` is in no index, so its bump stays a heap-only update
    (marketplace/services/offer_writer.py; the table's fillfactor is 50, migration 0004).
    """

    # The foreign keys of the catalog tables are kept by Django (PROTECT, CASCADE), not by
    # PostgreSQL constraints: a constraint's check at commit costs every inserted offer and
    # history point a locking lookup (a fifth of a first refresh's database time). The
    # writers take provider and GPU ids from those tables (brokers/services/normalise.py,
    # the provider API's own provider), and providers and GPU models are never deleted while
    # they have offers (PROTECT).
    provider = models.ForeignKey(
        "marketplace.Provider",
        on_delete=models.PROTECT,
        related_name="offers",
        db_index=False,
        db_constraint=False,
    )
    sku = models.CharField(max_length=200)
    gpu = models.ForeignKey(
        "marketplace.GpuModel",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        db_index=False,
        db_constraint=False,
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
    # lookup at commit (docs/refresh.md, "Speed"); feeds are only ever created by the sync
    # that writes their ids, and never deleted by it (deleting one through the ORM still
    # sets its offers' feed to NULL).
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
            *SEARCH_INDEXES,
            # The price index reads one GPU model's offers, withdrawn ones too while they
            # were seen in its window (selectors/price_index.py); the listed ones have the
            # indexes above. Not on observed_at: every sync sets it on every offer, and an
            # indexed column would make those updates write index entries (see offer_writer).
            models.Index(
                fields=["gpu"], name="offer_withdrawn_gpu", condition=Q(status="withdrawn")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider_id}:{self.sku}@{self.region or '-'} {self.pricing}"

    @property
    def total_gpu_memory_gb(self):
        return self.gpu_memory_gb * self.gpu_count


class OfferPrice(models.Model):
    """Price history: points are stored only when a price changes. A new offer stores none
    (its price since `created_at` is the offer's own: a first refresh writes a million
    offers, not a million offers and a million points); its first change stores the price
    it replaces, at `created_at`, and the new one. `selectors.offers.offer_price_history`
    reads both kinds."""

    # No index of its own (offerprice_offer_time starts with it), and no database
    # constraint (see Offer.provider): points are written in the same statement as the
    # offers they belong to, from those offers' ids.
    offer = models.ForeignKey(
        Offer,
        on_delete=models.CASCADE,
        related_name="price_history",
        db_index=False,
        db_constraint=False,
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
