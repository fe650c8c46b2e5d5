from django.contrib import admin

from .models import Invoice, InvoiceLine, UsageRecord


class InvoiceLineInline(admin.TabularInline):
    model = InvoiceLine
    extra = 0
    raw_id_fields = ("reservation",)


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = ("id", "number", "org", "period_start", "status", "total", "currency")
    list_filter = ("status", "currency")
    raw_id_fields = ("org",)
    inlines = [InvoiceLineInline]


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
    list_display = ("invoice", "reservation", "seconds", "price_per_hour", "amount")
    raw_id_fields = ("invoice", "reservation")
