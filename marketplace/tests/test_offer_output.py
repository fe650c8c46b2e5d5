"""The offer document renders as DRF would render its fields, and as the catalog promises
(decimal strings, times in UTC ending in Z, null where there is no GPU model)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from rest_framework import serializers

from marketplace.api.catalog import OfferOutput
from marketplace.models import Offer
from tests.factories import OfferFactory

pytestmark = pytest.mark.django_db

PlainOfferOutput = type(
    "PlainOfferOutput", (serializers.Serializer,), dict(OfferOutput._declared_fields)
)


def test_it_renders_what_drf_renders_from_the_same_fields():
    OfferFactory(reliability=Decimal("0.9900"))
    OfferFactory(gpu=None, reliability=None, suspect=True, suspect_reason="far below")
    rows = list(Offer.objects.select_related("provider", "gpu").order_by("id"))
    assert OfferOutput(rows, many=True).data == PlainOfferOutput(rows, many=True).data


def test_it_writes_the_documented_values():
    offer = OfferFactory(
        gpu=None,
        price_per_hour=Decimal("24.480000"),
        observed_at=datetime(2026, 12, 5, 9, 30, tzinfo=UTC),
    )
    offer = Offer.objects.select_related("provider", "gpu").get(pk=offer.pk)
    rendered = OfferOutput(offer).data
    assert rendered["price_per_hour"] == "24.480000"
    assert rendered["observed_at"] == "2026-12-05T09:30:00Z"
    assert (rendered["gpu"], rendered["gpu_vendor"]) == (None, None)
    assert rendered["provider"] == "simcloud"
