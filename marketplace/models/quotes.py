import uuid

from django.db import models


class Quote(models.Model):
    """An all-in price for a request, held until `expires_at` (the price lock)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    org = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="quotes"
    )
    request = models.JSONField(default=dict)
    hours = models.DecimalField(max_digits=10, decimal_places=4)
    total = models.DecimalField(max_digits=16, decimal_places=6)
    currency = models.CharField(max_length=3, default="USD")
    breakdown = models.JSONField(default=dict)
    legs = models.JSONField(
        default=list, help_text='[{"offer": id, "gpus": n, "price_per_hour": "..."}]'
    )
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["total"]

    def __str__(self) -> str:
        return f"Quote {self.pk}: {self.total} {self.currency}"
