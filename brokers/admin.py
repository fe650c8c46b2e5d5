from django.contrib import admin

from marketplace.models import PriceFeed

from .models import PriceSync, SimulatedInstance
from .simulated import simulated_instances_preempt


@admin.register(PriceSync)
class PriceSyncAdmin(admin.ModelAdmin):
    list_display = (
        "source",
        "status",
        "started_at",
        "finished_at",
        "rows_read",
        "created",
        "updated",
        "unchanged",
        "withdrawn",
        "stale",
        "suspect_flagged",
        "unknown_label_count",
        "error_count",
    )
    list_filter = ("source", "status")
    readonly_fields = [f.name for f in PriceSync._meta.fields] + ["unknown_labels_table"]

    @admin.display(description="unknown labels")
    def unknown_label_count(self, sync):
        return len(sync.unknown_labels)

    @admin.display(description="errors")
    def error_count(self, sync):
        return len(sync.errors)

    @admin.display(description="Unknown GPU labels (label: rows)")
    def unknown_labels_table(self, sync):
        items = sorted(sync.unknown_labels.items(), key=lambda kv: -kv[1])
        return ", ".join(f"{label}: {rows}" for label, rows in items) or "none"


# Registered here rather than in marketplace: feeds are the pricing syncs' business.
@admin.register(PriceFeed)
class PriceFeedAdmin(admin.ModelAdmin):
    list_display = ("source", "name", "created_at")
    list_filter = ("source",)
    search_fields = ("name",)
    readonly_fields = ("source", "name", "created_at")


@admin.register(SimulatedInstance)
class SimulatedInstanceAdmin(admin.ModelAdmin):
    list_display = (
        "instance_id",
        "sku",
        "region",
        "units",
        "state",
        "created_at",
        "preempt_at",
        "terminated_at",
    )
    list_filter = ("state",)
    actions = ["preempt_now"]

    @admin.action(description="Preempt now (the cloud takes the instance back)")
    def preempt_now(self, request, queryset):
        count = simulated_instances_preempt(
            instance_ids=queryset.values_list("instance_id", flat=True)
        )
        self.message_user(request, f"{count} instance(s) preempted.")
