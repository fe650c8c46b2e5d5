from django.conf import settings
from django.db import models
from django.db.models import Q


class ReservationStatus(models.TextChoices):
    PENDING = "pending", "Pending launch"
    LAUNCHING = "launching", "Launching"
    RUNNING = "running", "Running"
    TERMINATING = "terminating", "Terminating"
    TERMINATED = "terminated", "Terminated"
    PREEMPTED = "preempted", "Preempted"
    FAILED = "failed", "Failed"


S = ReservationStatus
# The one table of legal moves; services refuse anything else.
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    S.PENDING: frozenset({S.LAUNCHING, S.TERMINATED, S.FAILED}),
    S.LAUNCHING: frozenset({S.RUNNING, S.PENDING, S.TERMINATING, S.TERMINATED, S.FAILED}),
    S.RUNNING: frozenset({S.TERMINATING, S.TERMINATED, S.PREEMPTED, S.FAILED}),
    S.TERMINATING: frozenset({S.TERMINATED, S.FAILED}),
    S.PREEMPTED: frozenset({S.PENDING, S.TERMINATED}),
    S.TERMINATED: frozenset(),
    S.FAILED: frozenset(),
}
ACTIVE_STATUSES = frozenset({S.PENDING, S.LAUNCHING, S.RUNNING, S.TERMINATING})
# States that hold the offer's capacity.
CAPACITY_HOLDING_STATUSES = frozenset({S.PENDING, S.LAUNCHING, S.RUNNING, S.TERMINATING})


def sources_of(target: str) -> list[str]:
    return [source for source, targets in ALLOWED_TRANSITIONS.items() if target in targets]


class Reservation(models.Model):
    org = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="reservations"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    offer = models.ForeignKey(
        "marketplace.Offer", on_delete=models.PROTECT, related_name="reservations"
    )
    quote = models.ForeignKey("marketplace.Quote", null=True, blank=True, on_delete=models.SET_NULL)
    gpus = models.PositiveIntegerField()
    units = models.PositiveIntegerField(help_text="Instances of the offer's sku.")
    hours = models.DecimalField(max_digits=10, decimal_places=4)
    # Locked at reservation: later price changes of the offer never touch it. Whole reservation.
    price_per_hour = models.DecimalField(max_digits=14, decimal_places=6)
    currency = models.CharField(max_length=3, default="USD")
    max_price_per_hour = models.DecimalField(
        max_digits=14,
        decimal_places=6,
        null=True,
        blank=True,
        help_text="Buyer's limit for failover.",
    )
    # What the quote priced besides compute, locked with the price (docs/billing.md, "Quote
    # = invoice"): the invoice bills each of these as it happens, at these rates.
    boot_seconds = models.PositiveIntegerField(default=0, help_text="Billed start-up time.")
    disk_gb = models.DecimalField(
        max_digits=12, decimal_places=3, default=0, help_text="Per instance, as asked."
    )
    disk_price_per_hour = models.DecimalField(
        max_digits=14,
        decimal_places=6,
        default=0,
        help_text="The disk asked for, all instances: per GB-month rate × GB × instances / 730.",
    )
    egress_gb = models.DecimalField(
        max_digits=16, decimal_places=6, default=0, help_text="This reservation's share, as asked."
    )
    egress_price_per_gb = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    quoted_total = models.DecimalField(
        max_digits=16,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="What the quote priced for this reservation, rounded as its invoice lines are.",
    )
    status = models.CharField(max_length=20, choices=ReservationStatus.choices, default=S.PENDING)
    idempotency_key = models.CharField(max_length=200, blank=True)
    request_fingerprint = models.CharField(max_length=64, blank=True)
    instance_id = models.CharField(max_length=200, blank=True)
    connection = models.JSONField(default=dict, blank=True)
    failure_reason = models.TextField(blank=True)
    auto_relaunch = models.BooleanField(default=False)
    # Until the instance first runs, the latest it may start; from then on, its first run's
    # start + `hours` (+ any gap between runs): billing meters nothing past it.
    reserved_until = models.DateTimeField(help_text="Scheduled end of the reservation.")
    # When the terminate task was last queued. A reservation still TERMINATING a grace later
    # has the task queued again (it may have been lost); the conditional UPDATE of this
    # column lets one sweep or request, not two, do that.
    termination_asked_at = models.DateTimeField(null=True, blank=True)
    running_since = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # What billing has metered and billed of it so far (the sum of its invoice lines, each
    # rounded as invoices round): billing keeps them, through `reservations_billed_set`.
    usage_seconds = models.PositiveBigIntegerField(default=0)
    cost = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["org", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="uniq_reservation_idempotency_key",
            ),
            models.CheckConstraint(condition=Q(units__gte=1), name="reservation_units_positive"),
        ]
        indexes = [
            models.Index(fields=["org", "status"], name="reservation_org_status"),
            models.Index(
                fields=["termination_asked_at"],
                condition=Q(status="terminating"),
                name="reservation_terminating",
            ),
        ]

    def __str__(self) -> str:
        return f"Reservation {self.pk} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def ssh_command(self) -> str:
        """The command a buyer connects with, once the provider has reported where; "" before.
        Providers' connection details are validated when reported (host, POSIX user, port),
        so the line carries no ssh options."""
        if not {"user", "host", "port"} <= self.connection.keys():
            return ""
        return (
            f"ssh {self.connection['user']}@{self.connection['host']} -p {self.connection['port']}"
        )


class ReservationEvent(models.Model):
    """The state timeline of a reservation (append-only)."""

    reservation = models.ForeignKey(Reservation, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    at = models.DateTimeField()
    message = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.reservation_id}: {self.from_status or '-'} -> {self.to_status}"


class ReservationRun(models.Model):
    """One stretch of running time: from `running` until the instance ended (terminated,
    failed or preempted). A reservation preempted and placed again has several runs; usage
    is metered per run, so the gap between two runs is never billed. Runs never overlap:
    at most one is open (`ended_at` empty) at a time."""

    reservation = models.ForeignKey(Reservation, on_delete=models.CASCADE, related_name="runs")
    number = models.PositiveSmallIntegerField()
    offer = models.ForeignKey("marketplace.Offer", on_delete=models.PROTECT, related_name="+")
    instance_id = models.CharField(max_length=200, blank=True)
    # The reservation's locked price while this run lasted (a relaunch elsewhere may change it).
    price_per_hour = models.DecimalField(max_digits=14, decimal_places=6)
    currency = models.CharField(max_length=3)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["reservation", "number"]
        constraints = [
            models.UniqueConstraint(fields=["reservation", "number"], name="uniq_run_number"),
            models.UniqueConstraint(
                fields=["reservation"],
                condition=Q(ended_at__isnull=True),
                name="uniq_open_run_per_reservation",
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=models.F("started_at")),
                name="run_ends_after_start",
            ),
        ]
        # billing's sweep for ended runs metered short looks at recently ended runs only
        indexes = [
            models.Index(
                fields=["ended_at"], condition=Q(ended_at__isnull=False), name="run_ended_at"
            )
        ]

    def __str__(self) -> str:
        return f"{self.reservation_id} run {self.number}"


class EgressReport(models.Model):
    """Data a provider says a reservation sent out: `total_gb` is its running total as
    reported, `gb` what this report adds (reports never take egress back). Billed in the
    month of `reported_at`, at the reservation's locked egress rate."""

    reservation = models.ForeignKey(Reservation, on_delete=models.PROTECT, related_name="egress")
    reported_at = models.DateTimeField()
    total_gb = models.DecimalField(max_digits=16, decimal_places=6)
    gb = models.DecimalField(max_digits=16, decimal_places=6)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["reservation", "reported_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["reservation", "total_gb"], name="uniq_egress_report_total"
            ),
            models.CheckConstraint(condition=Q(gb__gt=0), name="egress_report_positive"),
        ]
        indexes = [
            # billing's month of a reservation's egress, and the reservations with egress in
            # a month
            models.Index(fields=["reservation", "reported_at"], name="egress_reservation_month"),
            models.Index(fields=["reported_at"], name="egress_reported_at"),
        ]

    def __str__(self) -> str:
        return f"{self.reservation_id}: +{self.gb} GB"


class LaunchOutcome(models.TextChoices):
    STARTED = "started", "Started"
    SUCCEEDED = "succeeded", "Succeeded"
    NO_CAPACITY = "no_capacity", "No capacity"
    TRANSIENT_ERROR = "transient_error", "Transient error"
    PERMANENT_ERROR = "permanent_error", "Permanent error"


class LaunchAttempt(models.Model):
    reservation = models.ForeignKey(Reservation, on_delete=models.CASCADE, related_name="attempts")
    offer = models.ForeignKey("marketplace.Offer", on_delete=models.PROTECT, related_name="+")
    number = models.PositiveSmallIntegerField()
    outcome = models.CharField(
        max_length=20, choices=LaunchOutcome.choices, default=LaunchOutcome.STARTED
    )
    error = models.TextField(blank=True)
    scope = models.CharField(max_length=20, blank=True, help_text="zone, region or provider")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["reservation", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["reservation", "number"], name="uniq_launch_attempt_number"
            )
        ]

    def __str__(self) -> str:
        return f"{self.reservation_id} attempt {self.number}: {self.outcome}"
