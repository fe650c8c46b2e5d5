from django.db import models


class LaunchRequestKind(models.TextChoices):
    LAUNCH = "launch", "Start the reservation's instances"
    TERMINATE = "terminate", "Stop the reservation's instances"


class LaunchRequestStatus(models.TextChoices):
    PENDING = "pending", "Waiting for the provider"
    DELIVERED = "delivered", "Webhook delivered"
    ACKNOWLEDGED = "acknowledged", "The provider reported on it"
    CANCELLED = "cancelled", "No longer wanted"
    EXPIRED = "expired", "The provider did not answer in time"


OPEN_LAUNCH_REQUEST_STATUSES = (LaunchRequestStatus.PENDING, LaunchRequestStatus.DELIVERED)


class LaunchRequest(models.Model):
    """What we ask a provider who lists its own machines to do for a reservation.

    The provider receives it as a signed webhook or polls for it, and answers with events
    (`ProviderEvent`). `key` makes creation idempotent: a redelivered launch task finds the
    request it made before instead of asking twice.
    """

    reservation = models.ForeignKey(
        "marketplace.Reservation", on_delete=models.CASCADE, related_name="launch_requests"
    )
    provider = models.ForeignKey(
        "marketplace.Provider", on_delete=models.PROTECT, related_name="launch_requests"
    )
    kind = models.CharField(max_length=20, choices=LaunchRequestKind.choices)
    key = models.CharField(max_length=200, unique=True)
    status = models.CharField(
        max_length=20, choices=LaunchRequestStatus.choices, default=LaunchRequestStatus.PENDING
    )
    payload = models.JSONField(default=dict)
    delivery_attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    answer_by = models.DateTimeField(help_text="After this, we stop waiting for the provider.")
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["provider", "status", "id"], name="launchrequest_provider_open")
        ]

    def __str__(self) -> str:
        return (
            f"{self.kind} request {self.pk} for reservation {self.reservation_id} ({self.status})"
        )

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_LAUNCH_REQUEST_STATUSES
