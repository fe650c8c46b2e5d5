"""What a quote looks like to the API: the output serializers of POST /api/v1/quotes/ and
GET /api/v1/quotes/<id>/, which the schema (/api/schema/) describes. Amounts and rates are
decimal strings, as stored; times are ISO 8601 UTC ending in Z."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from common.money import round_amount
from marketplace.models import Quote


def _decimal_text(help_text: str = "", **options) -> serializers.CharField:
    """A decimal number as the quote stored it: a string, never a float."""
    text = f"A decimal number, as a string. {help_text}".strip()
    return serializers.CharField(help_text=text, **options)


class QuoteBreakdownLegOutput(serializers.Serializer):
    offer = serializers.IntegerField()
    provider = serializers.CharField()
    sku = serializers.CharField()
    gpu = serializers.CharField(allow_null=True)
    region = serializers.CharField()
    pricing = serializers.CharField()
    units = serializers.IntegerField()
    gpus = serializers.IntegerField()
    offer_price_per_hour = _decimal_text()
    price_per_hour = _decimal_text(help_text="The leg's instances together.")
    boot_seconds = serializers.IntegerField()
    disk_price_per_gb_month = _decimal_text()
    egress_price_per_gb = _decimal_text()
    disk_price_per_hour = _decimal_text(help_text="The leg's disk, all instances.")
    egress_gb = _decimal_text(help_text="The leg's share of the job's egress.")
    relative_throughput = _decimal_text(allow_null=True)
    compute = _decimal_text(help_text="Rounded once to cents, as its invoice line.")
    boot = _decimal_text(help_text="Rounded once to cents, as its invoice line.")
    disk = _decimal_text(help_text="Rounded once to cents, as its invoice line.")
    egress = _decimal_text(help_text="Rounded once to cents, as its invoice line.")
    subtotal = _decimal_text(help_text="The leg's four amounts added up.")


class QuoteBreakdownOutput(serializers.Serializer):
    """Every figure a person needs to check the total by hand (docs/quotes.md)."""

    objective = serializers.CharField()
    currency = serializers.CharField()
    hours = _decimal_text()
    disk_gb = _decimal_text()
    egress_gb = _decimal_text()
    gpus = serializers.IntegerField()
    legs = QuoteBreakdownLegOutput(many=True)
    compute = _decimal_text()
    boot = _decimal_text()
    disk = _decimal_text()
    egress = _decimal_text()
    total_exact = _decimal_text()
    total = _decimal_text()
    formulas = serializers.DictField(child=serializers.CharField())
    prices_observed_at = serializers.CharField(
        required=False,
        help_text="When the oldest price of the plan was last confirmed (ISO 8601 UTC).",
    )
    work_a100_hours = _decimal_text(required=False, help_text="cost_per_work only.")
    cost_per_work = _decimal_text(required=False, help_text="cost_per_work only.")


@extend_schema_field(QuoteBreakdownOutput)
class QuoteBreakdownField(serializers.JSONField):
    """The breakdown exactly as stored with the quote: it is the record of how the price was
    made, shown as it was written (a quote stored before a figure was added lacks it)."""


class QuoteLegOutput(serializers.Serializer):
    offer = serializers.IntegerField()
    gpus = serializers.IntegerField()
    units = serializers.IntegerField()
    price_per_hour = _decimal_text(help_text="The leg's instances together (locked).")
    # From the quote's breakdown: null when it does not describe the leg's offer.
    provider = serializers.CharField(allow_null=True)
    sku = serializers.CharField(allow_null=True)
    gpu = serializers.CharField(allow_null=True)
    region = serializers.CharField(allow_null=True)
    pricing = serializers.CharField(allow_null=True)


class QuoteOutput(serializers.Serializer):
    id = serializers.UUIDField()
    expires_at = serializers.DateTimeField()
    total = serializers.SerializerMethodField()
    currency = serializers.CharField()
    objective = serializers.CharField(source="breakdown.objective", allow_null=True)
    cost_per_work = _decimal_text(source="breakdown.cost_per_work", allow_null=True)
    gpus = serializers.IntegerField(source="breakdown.gpus", allow_null=True)
    hours = _decimal_text(source="breakdown.hours", allow_null=True)
    legs = serializers.SerializerMethodField()
    prices_observed_at = serializers.CharField(
        source="breakdown.prices_observed_at",
        allow_null=True,
        default=None,
        help_text="How old the prices it used are: when the oldest was last confirmed.",
    )
    breakdown = QuoteBreakdownField()

    @extend_schema_field(OpenApiTypes.STR)
    def get_total(self, quote: Quote) -> str:
        """The sum of every leg's components, each rounded once (docs/billing.md)."""
        return str(round_amount(quote.total, quote.currency))

    @extend_schema_field(QuoteLegOutput(many=True))
    def get_legs(self, quote: Quote) -> list[dict]:
        described = {leg["offer"]: leg for leg in quote.breakdown.get("legs", [])}
        legs = [_with_offer_facts(leg, described.get(leg["offer"], {})) for leg in quote.legs]
        return QuoteLegOutput(legs, many=True).data


def _with_offer_facts(leg: dict, described: dict) -> dict:
    return leg | {name: described.get(name) for name in _OFFER_FACTS}


_OFFER_FACTS = ("provider", "sku", "gpu", "region", "pricing")


class QuoteExclusionsOutput(serializers.Serializer):
    """Offers left out, by reason (request.EXCLUSION_REASONS, docs/quotes.md)."""

    stale = serializers.IntegerField()
    suspect = serializers.IntegerField()
    unavailable = serializers.IntegerField()
    not_reservable = serializers.IntegerField()
    no_throughput = serializers.IntegerField()
    over_max_total = serializers.IntegerField()


class ElsewhereOutput(serializers.Serializer):
    """A fitting offer a quote cannot use (marketplace/quoting/elsewhere.py)."""

    offer = serializers.IntegerField(source="offer.id")
    provider = serializers.CharField(source="offer.provider.slug")
    sku = serializers.CharField(source="offer.sku")
    gpu = serializers.CharField(source="offer.gpu.name", allow_null=True, default=None)
    gpus = serializers.IntegerField(source="offer.gpu_count")
    region = serializers.CharField(source="offer.region")
    pricing = serializers.CharField(source="offer.pricing")
    price_per_hour = _decimal_text(source="offer.price_per_hour", help_text="One instance.")
    currency = serializers.CharField(source="offer.currency")
    total = _decimal_text(
        help_text="All-in for the request's hours, disk and egress at the provider's published "
        "rates, rounded as a quote here is."
    )
    reason = serializers.ChoiceField(choices=["not_reservable", "stale", "unavailable"])
    detail = serializers.CharField(help_text="Why it cannot be reserved here, for people.")


class QuoteCreateOutput(serializers.Serializer):
    quotes = QuoteOutput(many=True)
    excluded = QuoteExclusionsOutput()
    elsewhere = ElsewhereOutput(
        many=True,
        help_text="The cheapest fitting offers that cannot be reserved here, for comparison.",
    )
