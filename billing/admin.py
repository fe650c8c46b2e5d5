from django import forms
from django.contrib import admin

from common.errors import DomainError

from .models import (
    AuditRecord,
    BillingProfile,
    Budget,
    CreditNote,
    CreditNoteLine,
    FundsLock,
    Invoice,
    InvoiceLine,
    InvoiceNumberCounter,
    InvoiceStatus,
    JournalEntry,
    JournalLine,
    PaymentAccount,
    PaymentAttempt,
    ProviderPayoutAccount,
    ProviderStatement,
    Refund,
    StatementLine,
    StripeEvent,
    TopUp,
    UsageRecord,
)
from .tax import country_normalised, vat_id_normalised


def _finalised(invoice: Invoice | None) -> bool:
    return invoice is not None and invoice.status != InvoiceStatus.DRAFT


class InvoiceLineInline(admin.TabularInline):
    model = InvoiceLine
    extra = 0
    raw_id_fields = ("reservation",)

    # A finalised invoice's lines are read-only here as in the database (migration 0004).
    def has_add_permission(self, request, obj=None):
        return not _finalised(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return not _finalised(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not _finalised(obj) and super().has_delete_permission(request, obj)


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = ("id", "number", "org", "period_start", "status", "total", "currency")
    list_filter = ("status", "currency")
    raw_id_fields = ("org",)
    inlines = [InvoiceLineInline]

    def get_readonly_fields(self, request, obj=None):
        if _finalised(obj):
            return [field.name for field in obj._meta.fields if field.name != "status"]
        return super().get_readonly_fields(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not _finalised(obj) and super().has_delete_permission(request, obj)


@admin.register(InvoiceNumberCounter)
class InvoiceNumberCounterAdmin(admin.ModelAdmin):
    """Read-only: a number is given only by finalising an invoice."""

    list_display = ("series", "year", "last")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(UsageRecord)
class UsageRecordAdmin(admin.ModelAdmin):
    list_display = (
        "reservation",
        "org",
        "interval_start",
        "interval_end",
        "seconds",
        "price_per_hour",
    )
    raw_id_fields = ("reservation", "org")


@admin.register(InvoiceLine)
class InvoiceLineAdmin(admin.ModelAdmin):
    list_display = ("invoice", "kind", "reservation", "seconds", "price_per_hour", "amount")
    raw_id_fields = ("invoice", "reservation")

    def has_change_permission(self, request, obj=None):
        return not _finalised(obj.invoice if obj else None) and super().has_change_permission(
            request, obj
        )

    def has_delete_permission(self, request, obj=None):
        return not _finalised(obj.invoice if obj else None) and super().has_delete_permission(
            request, obj
        )


class BillingProfileForm(forms.ModelForm):
    """The API's checks (billing.tax), so that the admin cannot store what the API refuses."""

    class Meta:
        model = BillingProfile
        fields = (
            "org", "legal_name", "address_line1", "address_line2", "postal_code", "city",
            "country", "vat_id", "email",
        )  # fmt: skip

    def clean(self):
        data = super().clean()
        try:
            data["country"] = country_normalised(data.get("country") or "")
            data["vat_id"] = vat_id_normalised(data.get("vat_id") or "", country=data["country"])
        except DomainError as error:
            field = "country" if error.code == "invalid_country" else "vat_id"
            raise forms.ValidationError({field: error.message}) from None
        return data


@admin.register(BillingProfile)
class BillingProfileAdmin(admin.ModelAdmin):
    form = BillingProfileForm
    list_display = ("org", "legal_name", "country", "vat_id", "email", "updated_at")
    search_fields = ("legal_name", "vat_id", "org__name")
    raw_id_fields = ("org",)


class _ReadOnly:
    """Rows the database never lets change (migration 0007): shown, never edited here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class JournalLineInline(_ReadOnly, admin.TabularInline):
    model = JournalLine
    raw_id_fields = ("org", "provider")


@admin.register(JournalEntry)
class JournalEntryAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = ("id", "kind", "source_key", "posted_at", "currency", "memo")
    list_filter = ("kind", "currency")
    search_fields = ("source_key",)
    inlines = [JournalLineInline]


class CreditNoteLineInline(_ReadOnly, admin.TabularInline):
    model = CreditNoteLine
    raw_id_fields = ("invoice_line",)


@admin.register(CreditNote)
class CreditNoteAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = ("number", "invoice", "org", "issued_at", "total", "currency")
    raw_id_fields = ("org", "invoice")
    inlines = [CreditNoteLineInline]


@admin.register(JournalLine)
class JournalLineAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = ("entry", "account", "org", "provider", "debit", "credit")
    list_filter = ("account",)
    raw_id_fields = ("entry", "org", "provider")


@admin.register(CreditNoteLine)
class CreditNoteLineAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = ("credit_note", "invoice_line", "amount")
    raw_id_fields = ("credit_note", "invoice_line")


@admin.register(AuditRecord)
class AuditRecordAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = ("created_at", "org", "action", "subject", "user", "api_key", "session")
    list_filter = ("action",)
    search_fields = ("subject",)
    raw_id_fields = ("org", "user", "api_key")


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):
    """Shown for operators; changed through the API, which validates and audits each change."""

    list_display = ("org", "monthly_limit", "currency", "hard_stop", "terminate_running",
                    "alerted_80_period", "alerted_100_period", "updated_at")  # fmt: skip
    list_filter = ("hard_stop", "currency")
    raw_id_fields = ("org", "updated_by")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(FundsLock)
class FundsLockAdmin(_ReadOnly, admin.ModelAdmin):
    """One row per organization that has reserved: only locked, never edited."""

    list_display = ("org",)
    raw_id_fields = ("org",)


# Provider payouts: shown, never edited here. Statements are made and paid by the services
# (their figures must stay what the ledger and the transfer carried); a payout account is set
# by its provider through the API, which audits the change.


@admin.register(ProviderPayoutAccount)
class ProviderPayoutAccountAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = ("provider", "stripe_account", "updated_at")
    raw_id_fields = ("provider",)


class StatementLineInline(_ReadOnly, admin.TabularInline):
    model = StatementLine
    raw_id_fields = ("invoice_line", "credit_note_line")


@admin.register(ProviderStatement)
class ProviderStatementAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = (
        "id", "provider", "period_start", "currency", "gross", "fee", "net", "status",
        "transfer", "paid_at", "error",
    )  # fmt: skip
    list_filter = ("status", "currency")
    search_fields = ("transfer", "provider__slug")
    raw_id_fields = ("provider", "carried_to")
    inlines = [StatementLineInline]


@admin.register(StatementLine)
class StatementLineAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = ("statement", "invoice_line", "credit_note_line", "gross", "fee", "net")
    raw_id_fields = ("statement", "invoice_line", "credit_note_line")


# Payments: shown for operators, changed only by the payment services (billing.services.
# payments), which keep them in step with Stripe and the ledger.


class _ShownOnly:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(PaymentAccount)
class PaymentAccountAdmin(_ShownOnly, admin.ModelAdmin):
    list_display = ("org", "stripe_customer", "card_brand", "card_last4", "updated_at")
    search_fields = ("stripe_customer", "org__name")
    raw_id_fields = ("org",)


@admin.register(PaymentAttempt)
class PaymentAttemptAdmin(_ShownOnly, admin.ModelAdmin):
    list_display = ("idempotency_key", "amount", "currency", "status", "error_code", "created_at")
    list_filter = ("status",)
    search_fields = ("idempotency_key", "payment_intent")
    raw_id_fields = ("invoice",)


@admin.register(TopUp)
class TopUpAdmin(_ShownOnly, admin.ModelAdmin):
    list_display = ("pk", "org", "amount", "currency", "status", "created_at", "credited_at")
    list_filter = ("status",)
    search_fields = ("payment_intent",)
    raw_id_fields = ("org", "requested_by")


@admin.register(Refund)
class RefundAdmin(_ShownOnly, admin.ModelAdmin):
    list_display = ("credit_note", "amount", "currency", "status", "attempts", "error_message")
    list_filter = ("status",)
    raw_id_fields = ("credit_note",)


@admin.register(StripeEvent)
class StripeEventAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = ("event_id", "type", "received_at")
    search_fields = ("event_id",)
    list_filter = ("type",)
