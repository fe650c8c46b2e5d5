from django.db import models


class ProviderEventType(models.TextChoices):
    RUNNING = "running", "Instance running"
    FAILED = "failed", "Launch or instance failed"
    PREEMPTED = "preempted", "Instance preempted"
    TERMINATED = "terminated", "Instance terminated"


class ProviderEvent(models.Model):
    """A state report from a provider that lists its own machines, applied once.

    (provider, event_id) is unique: a provider that sends an event twice (a retry, a
    duplicate delivery) gets the first result back and nothing changes twice. Events that
    the state machine refused are not stored, so the provider may send them again later.
    """

    provider = models.ForeignKey(
        "marketplace.Provider", on_delete=models.PROTECT, related_name="events"
    )
    reservation = models.ForeignKey(
        "marketplace.Reservation", on_delete=models.CASCADE, related_name="provider_events"
    )
    event_id = models.CharField(max_length=200)
    type = models.CharField(max_length=20, choices=ProviderEventType.choices)
    occurred_at = models.DateTimeField(help_text="When the provider says it happened.")
    received_at = models.DateTimeField(auto_now_add=True)
    data = models.JSONField(default=dict, blank=True, help_text="connection, reason")
    result = models.JSONField(default=dict, help_text="The answer given the first time.")

    class Meta:
        ordering = ["received_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "event_id"], name="uniq_provider_event_id")
        ]

    def __str__(self) -> str:
        return f"{self.provider_id}:{self.event_id} {self.type} -> {self.reservation_id}"
