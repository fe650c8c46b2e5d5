from django.db import models


class PriceIndexRow(models.Model):
    """One day of the price index for one GPU model and filter: what
    `selectors.price_index.price_index_live` gives for that day, stored so that a page reads
    ninety rows instead of every offer listed in ninety days (docs/api.md, "Price index").

    A day's figures cannot change once it is over (the prices in force that day are history),
    so a row computed after `selectors.price_index.FINAL_AFTER` past its day's end is final;
    an earlier one (today's, refreshed by the beat) is used only while it is recent. Rows are
    written by `brokers.refresh_price_index` and, for days a page finds missing, by the page."""

    gpu = models.CharField(max_length=100)  # canonical name (GpuModel.name): every memory size
    pricing = models.CharField(max_length=20, blank=True)  # "" = every pricing model
    continent = models.CharField(max_length=2, blank=True)  # "" = everywhere
    day = models.DateField()  # UTC
    currency = models.CharField(max_length=3)
    # per GPU-hour, rounded for display as the index shows them; null on a day without offers
    p10 = models.DecimalField(max_digits=14, decimal_places=6, null=True)
    median = models.DecimalField(max_digits=14, decimal_places=6, null=True)
    p90 = models.DecimalField(max_digits=14, decimal_places=6, null=True)
    offers = models.PositiveIntegerField()
    providers = models.PositiveIntegerField()
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["gpu", "pricing", "continent", "day"], name="price_index_row_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.gpu} {self.pricing or 'any'} {self.continent or 'world'} {self.day}"
