from decimal import Decimal

from django.db import models
from django.db.models import Q

from billing.tax import country_name
from common.money import SECONDS_PER_HOUR, quantize_rate


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
    DRAFT = "draft", "Draft"  # the running total of a period, changing as usage arrives
    OPEN = "open", "Open"  # finalised: numbered, frozen, awaiting payment
    PAID = "paid", "Paid"
    VOID = "void", "Void"
    UNCOLLECTIBLE = "uncollectible", "Uncollectible"


# What the database refuses to change once an invoice is finalised (migration 0004's trigger).
FROZEN_INVOICE_FIELDS = (
    "org_id", "period_start", "period_end", "currency", "number", "issued_at", "due_at",
    "subtotal", "tax", "total", "tax_rate", "tax_note", "reverse_charge",
    "buyer_name", "buyer_address", "buyer_country", "buyer_vat_id", "buyer_email",
    "seller_name", "seller_address", "seller_country", "seller_vat_id",
)  # fmt: skip


class InvoiceNumberCounter(models.Model):
    """The last number given in one series and year (`GM` 2026 → 42: GM-2026-000042 was the
    last). Taken FOR UPDATE in the transaction that finalises, so numbers are gapless: a
    rolled-back finalisation gives its number back, which a sequence would not."""

    series = models.CharField(max_length=8)
    year = models.PositiveIntegerField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["series", "year"], name="uniq_invoice_counter")
        ]

    def __str__(self) -> str:
        return f"{self.series}-{self.year}: {self.last}"


class InvoiceLineKind(models.TextChoices):
    COMPUTE = "compute", "Compute"
    BOOT = "boot", "Boot"
    DISK = "disk", "Disk"
    EGRESS = "egress", "Egress"
    ADJUSTMENT = "adjustment", "Adjustment"  # usage of a closed period, billed later
    CREDIT = "credit", "Credit"


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
    issued_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    subtotal = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    tax = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    total = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    amount_due = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    # What was decided at finalisation (billing.tax) and both parties as they were then, so
    # that a later edit of the profile or of the platform's settings never changes an issued
    # invoice. Empty (rate 0) on a draft: its tax is decided when it is finalised. Defaults in
    # the database too: the set-based draft creation (services/bulk.py) names no such column.
    tax_rate = models.DecimalField(
        max_digits=5, decimal_places=2, default=0, db_default=0, help_text="Percent, e.g. 23.00."
    )
    tax_note = models.TextField(blank=True, db_default="")
    reverse_charge = models.BooleanField(default=False, db_default=False)
    buyer_name = models.CharField(max_length=200, blank=True, db_default="")
    buyer_address = models.TextField(blank=True, db_default="", help_text="One line per line.")
    buyer_country = models.CharField(max_length=2, blank=True, db_default="")
    buyer_vat_id = models.CharField(max_length=20, blank=True, db_default="")
    buyer_email = models.EmailField(blank=True, db_default="")
    seller_name = models.CharField(max_length=200, blank=True, db_default="")
    seller_address = models.TextField(blank=True, db_default="", help_text="One line per line.")
    seller_country = models.CharField(max_length=2, blank=True, db_default="")
    # As PLATFORM_VAT_ID is set, not normalised: room for separators.
    seller_vat_id = models.CharField(max_length=40, blank=True, db_default="")
    # Collection (billing.services.payments): when it was paid in full; when the next
    # attempt to charge its payment method is due (dunning, or a call whose outcome is not
    # known yet); why the last attempt failed, shown on the finance page.
    paid_at = models.DateTimeField(null=True, blank=True)
    next_collection_at = models.DateTimeField(null=True, blank=True)
    collection_error = models.CharField(max_length=300, blank=True, db_default="")
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

    @property
    def amount_credited(self) -> Decimal:
        """What its credit notes took back, tax included (prefetch `credit_notes` for lists)."""
        return sum((note.total for note in self.credit_notes.all()), start=Decimal(0))


class ChargeComponent(models.TextChoices):
    """What a line charges for (docs/billing.md, "Quote = invoice"): each quoted component
    that happened. A line's kind is its component, or `adjustment` when it bills a month
    already closed."""

    COMPUTE = "compute", "Compute"
    BOOT = "boot", "Boot"
    DISK = "disk", "Disk"
    EGRESS = "egress", "Egress"


def address_lines(address: str) -> list[str]:
    """An address written with its lines separated by newlines or ";" (a setting), as lines."""
    return [part.strip() for part in address.replace(";", "\n").splitlines() if part.strip()]


class BillingProfile(models.Model):
    """Whom an organization's invoices are addressed to, and where it is established for
    VAT (billing.tax). Read when an invoice is finalised; the invoice keeps a copy."""

    org = models.OneToOneField(
        "accounts.Organization", on_delete=models.CASCADE, related_name="billing_profile"
    )
    legal_name = models.CharField(max_length=200)
    address_line1 = models.CharField(max_length=200)
    address_line2 = models.CharField(max_length=200, blank=True)
    postal_code = models.CharField(max_length=20)
    city = models.CharField(max_length=100)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2, upper case.")
    # Upper case without spaces, dots or dashes; an EU one starts with its state's prefix.
    vat_id = models.CharField(max_length=20, blank=True)
    email = models.EmailField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(country__regex=r"^[A-Z]{2}$"), name="billing_profile_country_code"
            )
        ]

    def __str__(self) -> str:
        return f"{self.legal_name} ({self.country})"

    @property
    def address_lines(self) -> list[str]:
        """The postal address as printed: street lines, postal code and city, country."""
        lines = [self.address_line1, self.address_line2, f"{self.postal_code} {self.city}"]
        return [line.strip() for line in lines if line.strip()] + [country_name(self.country)]


class InvoiceLine(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    reservation = models.ForeignKey(
        "marketplace.Reservation", on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(
        max_length=20, choices=InvoiceLineKind.choices, default=InvoiceLineKind.COMPUTE
    )
    component = models.CharField(
        max_length=20, choices=ChargeComponent.choices, default=ChargeComponent.COMPUTE
    )
    # The month the usage happened in: the invoice's own period, or an earlier closed one for
    # an adjustment.
    service_period_start = models.DateTimeField()
    description = models.CharField(max_length=300)
    # Time lines (compute, boot, disk) bill seconds at a price per hour; egress lines bill
    # gigabytes at a price per GB, held in `price_per_hour` (the line's unit price). An
    # adjustment that takes back seconds is negative.
    seconds = models.IntegerField()
    gigabytes = models.DecimalField(max_digits=16, decimal_places=6, default=0)
    price_per_hour = models.DecimalField(max_digits=14, decimal_places=6)
    # Rounded once, here, to the currency's precision.
    amount = models.DecimalField(max_digits=16, decimal_places=2)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "invoice",
                    "reservation",
                    "component",
                    "price_per_hour",
                    "service_period_start",
                ],
                name="uniq_invoice_line_component",
            )
        ]

    def __str__(self) -> str:
        return self.description

    @property
    def unit(self) -> str:
        return "GB" if self.component == ChargeComponent.EGRESS else "hour"

    @property
    def quantity(self) -> Decimal:
        """GB, or hours to 6 places for people: a time line is priced on the exact seconds."""
        if self.component == ChargeComponent.EGRESS:
            return self.gigabytes
        return quantize_rate(Decimal(self.seconds) / SECONDS_PER_HOUR)


class LedgerAccount(models.TextChoices):
    """The accounts of the double-entry ledger. Receivable and prepaid credit are kept per
    organization, what is owed to providers per provider; the others are the platform's."""

    ACCOUNTS_RECEIVABLE = "accounts_receivable", "Accounts receivable"  # asset, per org
    PREPAID_CREDIT = "prepaid_credit", "Prepaid credit"  # liability, per org
    PROVIDER_PAYABLE = "provider_payable", "Provider payable"  # liability, per provider
    PLATFORM_REVENUE = "platform_revenue", "Platform revenue"
    TAX_PAYABLE = "tax_payable", "Tax payable"
    CASH = "cash", "Cash (Stripe clearing)"


class JournalEntryKind(models.TextChoices):
    INVOICE = "invoice", "Invoice"
    CREDIT_NOTE = "credit_note", "Credit note"
    VOID = "void", "Void"
    PAYMENT = "payment", "Payment"
    TOP_UP = "top_up", "Top-up"
    PAYOUT = "payout", "Payout"
    CREDIT_APPLIED = "credit_applied", "Prepaid credit applied"
    REFUND = "refund", "Refund"
    CREDIT_RETURNED = "credit_returned", "Credit returned as prepaid credit"


class JournalEntry(models.Model):
    """One posting of the ledger: its lines' debits equal their credits (the posting service
    checks it, and a deferred trigger of migration 0007 at commit). Append-only: a mistake is
    corrected by another entry, never by changing this one."""

    kind = models.CharField(max_length=20, choices=JournalEntryKind.choices)
    # What was posted, e.g. "invoice:42": the same thing is posted once, however often asked.
    source_key = models.CharField(max_length=100, unique=True)
    posted_at = models.DateTimeField()
    memo = models.CharField(max_length=300, blank=True)
    currency = models.CharField(max_length=3)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "journal entries"

    def __str__(self) -> str:
        return self.source_key


class JournalLine(models.Model):
    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="lines")
    account = models.CharField(max_length=30, choices=LedgerAccount.choices)
    org = models.ForeignKey(
        "accounts.Organization", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    provider = models.ForeignKey(
        "marketplace.Provider", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    debit = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    credit = models.DecimalField(max_digits=16, decimal_places=2, default=0)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(debit__gte=0, credit__gte=0)
                & (Q(debit=0) | Q(credit=0))
                & ~Q(debit=0, credit=0),
                name="journal_line_one_side",
            ),
            # Per-party accounts name their party; the platform's name none.
            models.CheckConstraint(
                condition=(
                    Q(account__in=["accounts_receivable", "prepaid_credit"])
                    & Q(org__isnull=False, provider__isnull=True)
                )
                | (Q(account="provider_payable") & Q(org__isnull=True, provider__isnull=False))
                | (
                    Q(account__in=["platform_revenue", "tax_payable", "cash"])
                    & Q(org__isnull=True, provider__isnull=True)
                ),
                name="journal_line_party",
            ),
        ]
        indexes = [
            models.Index(fields=["account", "org"], name="journal_line_org"),
            models.Index(fields=["account", "provider"], name="journal_line_provider"),
        ]

    def __str__(self) -> str:
        return f"{self.account} Dr {self.debit} Cr {self.credit}"


class CreditNote(models.Model):
    """A correction of a finalised invoice: numbered `CN-YYYY-NNNNNN` (its own gapless
    series) and frozen like an invoice from the moment it is issued (migration 0007)."""

    org = models.ForeignKey("accounts.Organization", on_delete=models.PROTECT, related_name="+")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_notes")
    number = models.CharField(max_length=30, unique=True)
    currency = models.CharField(max_length=3)
    reason = models.CharField(max_length=500)
    issued_at = models.DateTimeField()
    subtotal = models.DecimalField(max_digits=16, decimal_places=2)
    tax = models.DecimalField(max_digits=16, decimal_places=2)
    total = models.DecimalField(max_digits=16, decimal_places=2)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(subtotal__gt=0), name="credit_note_positive"),
            models.CheckConstraint(
                condition=Q(total=models.F("subtotal") + models.F("tax")),
                name="credit_note_total",
            ),
        ]

    def __str__(self) -> str:
        return self.number


class CreditNoteLine(models.Model):
    credit_note = models.ForeignKey(CreditNote, on_delete=models.PROTECT, related_name="lines")
    invoice_line = models.ForeignKey(
        InvoiceLine, on_delete=models.PROTECT, related_name="credit_lines"
    )
    description = models.CharField(max_length=300)
    # Before tax, like the invoice line it credits.
    amount = models.DecimalField(max_digits=16, decimal_places=2)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="credit_note_line_positive")
        ]

    def __str__(self) -> str:
        return self.description


class AuditAction(models.TextChoices):
    PAYMENT_METHOD_SET = "payment_method_set", "Payment method set"
    TOP_UP_REQUESTED = "top_up_requested", "Top-up requested"
    TOP_UP_CREDITED = "top_up_credited", "Top-up credited"
    BUDGET_CHANGED = "budget_changed", "Budget changed"
    INVOICE_PAYMENT_REQUESTED = "invoice_payment_requested", "Invoice payment requested"
    INVOICE_PAID = "invoice_paid", "Invoice paid"
    PAYMENT_FAILED = "payment_failed", "Payment failed"
    INVOICE_UNCOLLECTIBLE = "invoice_uncollectible", "Invoice uncollectible"
    REFUND = "refund", "Refund"
    PAYOUT = "payout", "Payout"
    PAYOUT_ACCOUNT_SET = "payout_account_set", "Payout account set"


class AuditRecord(models.Model):
    """Who did what to an organization's money, when, and through what: a user's session, an
    API key, or the platform itself (a worker, a Stripe event) when both are empty.
    Append-only, like the ledger."""

    org = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="audit_records"
    )
    action = models.CharField(max_length=40, choices=AuditAction.choices)
    # What it acted on, e.g. "invoice:42", "top_up:7", "statement:3".
    subject = models.CharField(max_length=100)
    user = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The session it came from: its key's SHA-256 prefix, never the key itself.
    session = models.CharField(max_length=16, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["org", "-created_at"], name="audit_org_created")]

    def __str__(self) -> str:
        return f"{self.action} {self.subject}"

    @property
    def via(self) -> str:
        if self.api_key_id:
            return f"API key {self.api_key.prefix}…" if self.api_key else "API key"
        if self.session:
            return "signed-in session"
        return "platform"


class FundsLock(models.Model):
    """One row per organization, locked FOR UPDATE by every reservation it makes while its
    funds and budget are checked (billing.services.funds): two reservations of one
    organization take turns, so they cannot both spend its last dollars."""

    org = models.OneToOneField(
        "accounts.Organization", primary_key=True, on_delete=models.CASCADE, related_name="+"
    )

    def __str__(self) -> str:
        return f"funds lock of org {self.org_id}"


class Budget(models.Model):
    """An organization's monthly spending limit in one currency (docs/billing.md, "Funds and
    budgets"). Alerts at 80 % and 100 % go out once per month: the month they went out in is
    kept. With `hard_stop`, a reservation that would pass the limit is refused; with
    `terminate_running` too, running reservations are terminated once it is reached."""

    org = models.OneToOneField(
        "accounts.Organization", on_delete=models.CASCADE, related_name="budget"
    )
    monthly_limit = models.DecimalField(max_digits=16, decimal_places=2)
    currency = models.CharField(max_length=3, default="USD")
    hard_stop = models.BooleanField(default=False)
    terminate_running = models.BooleanField(default=False)
    # The first day of the month whose alert went out (empty: never).
    alerted_80_period = models.DateField(null=True, blank=True)
    alerted_100_period = models.DateField(null=True, blank=True)
    updated_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(monthly_limit__gt=0), name="budget_limit_positive")
        ]

    def __str__(self) -> str:
        return f"{self.monthly_limit} {self.currency} a month"


# --- provider payouts -----------------------------------------------------------------------


class ProviderPayoutAccount(models.Model):
    """Where a provider's earnings are sent: its Stripe Connect account. A billing row of its
    own rather than a field of `marketplace.Provider`: Stripe is billing's business (the
    marketplace knows nothing of payments, and import-linter keeps it so), and
    `Provider.config` holds launcher settings only."""

    provider = models.OneToOneField(
        "marketplace.Provider", on_delete=models.CASCADE, related_name="payout_account"
    )
    stripe_account = models.CharField(max_length=255, help_text="acct_...")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(stripe_account__regex=r"^acct_[A-Za-z0-9]+$"),
                name="payout_account_stripe_id",
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider_id}: {self.stripe_account}"


class StatementStatus(models.TextChoices):
    # Awaiting its transfer: the next payout run sends it (a failure is kept in `error`).
    PAYABLE = "payable", "Payable"
    PAID = "paid", "Paid"
    # Net zero or less (clawbacks outweigh earnings): nothing is sent; the amount is carried
    # into the provider's next statement in that currency (`carried_to`).
    CARRIED_OVER = "carried_over", "Nothing to pay (carried over)"


class ProviderStatement(models.Model):
    """What the platform owes one provider for one month in one currency: the provider's
    share of the lines of invoices paid by buyers (less the platform fee at
    `fee_percent`, the setting when the statement was made), less what credit notes took
    back, plus a negative balance carried from an earlier statement. One Connect transfer
    pays it, with the idempotency key `statement-<id>`. Its lines are frozen once paid."""

    provider = models.ForeignKey(
        "marketplace.Provider", on_delete=models.PROTECT, related_name="statements"
    )
    period_start = models.DateTimeField()
    period_end = models.DateTimeField(help_text="Exclusive: the period is [start, end).")
    currency = models.CharField(max_length=3)
    fee_percent = models.DecimalField(max_digits=5, decimal_places=2)
    gross = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    fee = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    # A negative net of earlier statements brought forward (zero or less).
    carried = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    net = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    status = models.CharField(
        max_length=20, choices=StatementStatus.choices, default=StatementStatus.PAYABLE
    )
    carried_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="carried_from"
    )
    transfer = models.CharField(max_length=255, blank=True, help_text="Stripe's tr_... id.")
    paid_at = models.DateTimeField(null=True, blank=True)
    # The last payout attempt's failure ("no_payout_account: ...", "stripe_unavailable: ...").
    error = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-period_start", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "period_start", "currency"], name="uniq_provider_statement"
            ),
            models.CheckConstraint(
                condition=Q(net=models.F("gross") - models.F("fee") + models.F("carried")),
                name="statement_net",
            ),
            models.CheckConstraint(
                condition=~Q(status="paid") | Q(paid_at__isnull=False, net__gt=0),
                name="statement_paid",
            ),
        ]
        indexes = [models.Index(fields=["status"], name="statement_status")]

    def __str__(self) -> str:
        return f"{self.provider_id} {self.period_start:%Y-%m} {self.currency}"

    @property
    def idempotency_key(self) -> str:
        return f"statement-{self.pk}"

    @property
    def lines_net(self):
        """What its own lines come to, before anything carried in."""
        return self.gross - self.fee


class StatementLine(models.Model):
    """One invoice line's share, or (negative) one credit note line taken back. Each is on
    one statement at most (the unique keys): a line is paid out once, clawed back once."""

    statement = models.ForeignKey(ProviderStatement, on_delete=models.PROTECT, related_name="lines")
    invoice_line = models.OneToOneField(
        InvoiceLine, null=True, blank=True, on_delete=models.PROTECT, related_name="statement_line"
    )
    credit_note_line = models.OneToOneField(
        CreditNoteLine,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="statement_line",
    )
    # Before tax, as the invoice line; negative for a clawback (or a late adjustment).
    gross = models.DecimalField(max_digits=16, decimal_places=2)
    fee = models.DecimalField(max_digits=16, decimal_places=2)
    net = models.DecimalField(max_digits=16, decimal_places=2)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(invoice_line__isnull=False, credit_note_line__isnull=True)
                | Q(invoice_line__isnull=True, credit_note_line__isnull=False),
                name="statement_line_source",
            ),
            models.CheckConstraint(
                condition=Q(net=models.F("gross") - models.F("fee")), name="statement_line_net"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.statement_id}: {self.gross}"

    @property
    def kind(self) -> str:
        return "earning" if self.invoice_line_id else "clawback"

    @property
    def source_line(self) -> InvoiceLine:
        """The invoice line it pays, or whose credit it takes back (select it related)."""
        return self.invoice_line or self.credit_note_line.invoice_line


# --- payments (billing.services.payments) -----------------------------------------------------


class PaymentAccount(models.Model):
    """An organization's Stripe customer and the payment method its invoices and top-ups are
    charged to (Stripe's ids; the card's brand and last digits only for display)."""

    org = models.OneToOneField(
        "accounts.Organization", on_delete=models.CASCADE, related_name="payment_account"
    )
    stripe_customer = models.CharField(max_length=255)
    payment_method = models.CharField(max_length=255, blank=True)
    card_brand = models.CharField(max_length=30, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.stripe_customer} ({self.card_brand} {self.card_last4})"


class ChargeStatus(models.TextChoices):
    # Sent, or about to be, with its idempotency key; the outcome is not known yet. A retry
    # sends the same key, so Stripe answers with what the first request made.
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class PaymentAttempt(models.Model):
    """One try at collecting an invoice: a PaymentIntent whose idempotency key is
    `invoice-<number>-attempt-<n>`. At most one attempt of an invoice is pending."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="attempts")
    number = models.PositiveIntegerField()
    idempotency_key = models.CharField(max_length=100, unique=True)
    amount = models.DecimalField(max_digits=16, decimal_places=2)
    currency = models.CharField(max_length=3)
    # Sent again as it was first sent: Stripe refuses a reused key with other parameters.
    payment_method = models.CharField(max_length=255)
    payment_intent = models.CharField(max_length=255, blank=True, db_index=True)
    status = models.CharField(max_length=20, choices=ChargeStatus.choices, default="pending")
    error_code = models.CharField(max_length=100, blank=True)
    error_message = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["invoice", "number"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "number"], name="uniq_attempt_number"),
            models.UniqueConstraint(
                fields=["invoice"], condition=Q(status="pending"), name="one_pending_attempt"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="attempt_amount_positive"),
        ]

    def __str__(self) -> str:
        return self.idempotency_key


class TopUp(models.Model):
    """Prepaid credit bought with the organization's payment method: credit only once Stripe
    confirms the payment (key `top-up-<id>`)."""

    org = models.ForeignKey("accounts.Organization", on_delete=models.PROTECT, related_name="+")
    amount = models.DecimalField(max_digits=16, decimal_places=2)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=20, choices=ChargeStatus.choices, default="pending")
    payment_method = models.CharField(max_length=255)
    payment_intent = models.CharField(max_length=255, blank=True, db_index=True)
    error_code = models.CharField(max_length=100, blank=True)
    error_message = models.CharField(max_length=300, blank=True)
    requested_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    credited_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="top_up_amount_positive")
        ]

    def __str__(self) -> str:
        return f"top-up {self.pk}: {self.amount} {self.currency} ({self.status})"

    @property
    def idempotency_key(self) -> str:
        return f"top-up-{self.pk}"


class Refund(models.Model):
    """What a credit note gives back to the card that paid the invoice (key
    `credit-note-<number>`); the rest of the note, paid from prepaid credit, returns there."""

    credit_note = models.OneToOneField(CreditNote, on_delete=models.PROTECT, related_name="refund")
    payment_intent = models.CharField(max_length=255)
    amount = models.DecimalField(max_digits=16, decimal_places=2)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=20, choices=ChargeStatus.choices, default="pending")
    stripe_refund = models.CharField(max_length=255, blank=True)
    error_message = models.CharField(max_length=300, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive")
        ]

    def __str__(self) -> str:
        return f"refund of {self.credit_note}: {self.amount} {self.currency} ({self.status})"

    @property
    def idempotency_key(self) -> str:
        return f"credit-note-{self.credit_note.number}"


class StripeEvent(models.Model):
    """Each Stripe event handled once: its id is unique, and the row is written in the
    transaction that handles it, so a redelivery finds it and does nothing."""

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    received_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.event_id} {self.type}"
