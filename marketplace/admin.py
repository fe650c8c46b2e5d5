from django.contrib import admin

from .models import (
    EgressReport,
    GpuModel,
    LaunchAttempt,
    LaunchRequest,
    Offer,
    OfferPrice,
    PriceIndexRow,
    Provider,
    ProviderEvent,
    Quote,
    Reservation,
    ReservationEvent,
    ReservationRun,
)
from .reservability import why_not_reservable
from .selectors.offers import offer_price_history


@admin.register(GpuModel)
class GpuModelAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "vendor",
        "memory_gb",
        "compute_capability",
        "architecture",
        "bf16_tflops",
    )
    list_filter = ("vendor",)
    search_fields = ("name",)


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "kind", "org", "launcher", "is_active", "reservability")
    list_filter = ("kind", "is_active")
    search_fields = ("slug", "name")
    raw_id_fields = ("org",)
    readonly_fields = ("reservability",)

    @admin.display(description="Reservable here")
    def reservability(self, provider: Provider) -> str:
        return why_not_reservable(provider) or "yes"


@admin.register(Offer)
class OfferAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "provider",
        "sku",
        "gpu",
        "gpu_count",
        "region",
        "pricing",
        "price_per_hour",
        "available",
        "status",
        "suspect",
        "observed_at",
    )
    list_filter = ("status", "pricing", "suspect", "provider")
    search_fields = ("sku", "region")
    raw_id_fields = ("provider", "gpu")
    list_select_related = ("provider", "gpu")
    show_full_result_count = False  # counting a million offers on every page load is slow
    readonly_fields = ("price_history_points",)

    @admin.display(description="Price history")
    def price_history_points(self, offer: Offer) -> str:
        points = offer_price_history(offer=offer)
        return "; ".join(
            f"{p.price_per_hour} {p.currency} from {p.observed_at:%Y-%m-%d %H:%M}" for p in points
        )


@admin.register(OfferPrice)
class OfferPriceAdmin(admin.ModelAdmin):
    list_display = ("offer", "price_per_hour", "currency", "observed_at")
    raw_id_fields = ("offer",)


@admin.register(PriceIndexRow)
class PriceIndexRowAdmin(admin.ModelAdmin):
    """Computed rows (selectors/price_index.py): read here, never written; deleting one makes
    the next page or beat run compute it again."""

    list_display = ("day", "gpu", "pricing", "continent", "p10", "median", "p90", "offers")
    list_filter = ("pricing", "continent")
    search_fields = ("gpu",)
    date_hierarchy = "day"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ReservationEventInline(admin.TabularInline):
    model = ReservationEvent
    extra = 0
    readonly_fields = ("from_status", "to_status", "at", "message", "data")


class LaunchAttemptInline(admin.TabularInline):
    model = LaunchAttempt
    extra = 0
    raw_id_fields = ("offer",)


@admin.register(Reservation)
class ReservationAdmin(admin.ModelAdmin):
    list_display = ("id", "org", "offer", "gpus", "price_per_hour", "status", "created_at")
    list_filter = ("status",)
    raw_id_fields = ("org", "created_by", "offer", "quote")
    inlines = [ReservationEventInline, LaunchAttemptInline]


@admin.register(ReservationEvent)
class ReservationEventAdmin(admin.ModelAdmin):
    list_display = ("reservation", "from_status", "to_status", "at")
    raw_id_fields = ("reservation",)


@admin.register(LaunchAttempt)
class LaunchAttemptAdmin(admin.ModelAdmin):
    list_display = ("reservation", "number", "offer", "outcome", "scope", "started_at")
    list_filter = ("outcome",)
    raw_id_fields = ("reservation", "offer")


@admin.register(Quote)
class QuoteAdmin(admin.ModelAdmin):
    list_display = ("id", "org", "total", "currency", "expires_at")
    raw_id_fields = ("org",)


@admin.register(LaunchRequest)
class LaunchRequestAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "kind",
        "provider",
        "reservation",
        "status",
        "delivery_attempts",
        "created_at",
    )
    list_filter = ("kind", "status")
    raw_id_fields = ("reservation", "provider")
    readonly_fields = ("key", "payload", "last_error")


@admin.register(ProviderEvent)
class ProviderEventAdmin(admin.ModelAdmin):
    list_display = ("event_id", "provider", "reservation", "type", "occurred_at", "received_at")
    list_filter = ("type",)
    raw_id_fields = ("reservation", "provider")
    search_fields = ("event_id",)


@admin.register(ReservationRun)
class ReservationRunAdmin(admin.ModelAdmin):
    list_display = ("reservation", "number", "offer", "price_per_hour", "started_at", "ended_at")
    raw_id_fields = ("reservation", "offer")


@admin.register(EgressReport)
class EgressReportAdmin(admin.ModelAdmin):
    list_display = ("reservation", "reported_at", "total_gb", "gb")
    raw_id_fields = ("reservation",)
