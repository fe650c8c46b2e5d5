"""FlatOutput renders exactly what DRF's Serializer renders from the same fields."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace

import pytest
from rest_framework import serializers

from common.api.serializers import DecimalString, FlatOutput

FIELDS = {
    "id": serializers.IntegerField(),
    "name": serializers.CharField(),
    "owner": serializers.CharField(source="owner.slug", allow_null=True),
    "price": DecimalString(),
    "discount": DecimalString(allow_null=True),
    "seen_at": serializers.DateTimeField(),
    "active": serializers.BooleanField(),
    "kind": serializers.ChoiceField(choices=["spot", "on_demand"]),
    "tags": serializers.ListField(child=serializers.CharField()),
}
Plain = type("Plain", (serializers.Serializer,), dict(FIELDS))
Flat = type("Flat", (FlatOutput,), dict(FIELDS))

ROWS = [
    SimpleNamespace(
        id=7,
        name="h100-sxm",
        owner=SimpleNamespace(slug="acme"),
        price=Decimal("2.500000"),
        discount=None,
        seen_at=datetime(2026, 12, 5, 9, 0, 0, 123456, tzinfo=UTC),
        active=True,
        kind="spot",
        tags=["a", "b"],
    ),
    SimpleNamespace(
        id=8,
        name="a100",
        owner=None,  # an optional relation: every field read through it is null
        price=Decimal("0.000100"),
        discount=Decimal("12"),
        seen_at=datetime(2026, 12, 5, 10, 0, tzinfo=timezone(timedelta(hours=1))),
        active=False,
        kind="on_demand",
        tags=[],
    ),
    {
        "id": 9,
        "name": "dict row",
        "owner": {"slug": "d"},
        "price": Decimal("1E+2"),
        "discount": Decimal("-0.5"),
        "seen_at": datetime(2026, 1, 1, tzinfo=UTC),
        "active": True,
        "kind": "spot",
        "tags": ["x"],
    },
]


@pytest.mark.parametrize("row", ROWS)
def test_it_renders_what_drf_renders(row):
    assert Flat(row).data == Plain(row).data


def test_it_renders_lists_as_drf_does():
    assert Flat(ROWS, many=True).data == Plain(ROWS, many=True).data


def test_it_writes_times_in_utc_ending_in_z_and_decimals_in_full():
    rendered = Flat(ROWS[1]).data
    assert rendered["seen_at"] == "2026-12-05T09:00:00Z"
    assert rendered["price"] == "0.000100"
    assert rendered["owner"] is None
