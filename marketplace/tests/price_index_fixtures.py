"""A small price history whose index is worked out by hand (marketplace/tests/test_price_index.py
has the arithmetic), shared by the selector, page and API tests.

Today is 2026-12-06 (UTC); a 7-day window runs from 2026-11-30 to today. Every offer is an H100
listed on 2026-11-01 unless said otherwise:
  A  on demand, Europe, 2.00/GPU-h, never repriced                     provider p1
  B  on demand, Europe, 4.00 until 2026-12-02 10:00, then 3.00         provider p2
  C  spot, North America, 2 GPUs at 2.00/h = 1.00/GPU-h                provider p1
  D  on demand, North America, 5.00, withdrawn: last seen 2026-12-03 08:00   provider p3
  E  on demand, Europe, 2.50, listed 2026-12-04 09:00                  provider p3
and, left out: an A100 (another model), an H100 withdrawn before the window (last seen
2026-11-20), an H100 priced in EUR.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from marketplace.models import GpuModel, Offer, OfferPrice, OfferStatus
from tests.factories import OfferFactory, ProviderFactory

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
LISTED = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass
class History:
    a: Offer
    b: Offer
    c: Offer
    d: Offer
    e: Offer


def _offer(provider, *, price: str, gpus: int = 1, listed=LISTED, **fields) -> Offer:
    offer = OfferFactory(
        provider=provider, gpu_count=gpus, price_per_hour=Decimal(price),
        price_per_gpu_hour=Decimal(price) / gpus, observed_at=NOW, **fields,
    )  # fmt: skip
    Offer.objects.filter(pk=offer.pk).update(created_at=listed)
    offer.refresh_from_db()
    return offer


def build_history() -> History:
    p1, p2, p3 = (ProviderFactory(slug=slug, name=slug) for slug in ("p1", "p2", "p3"))
    eu = {"country": "DE", "continent": "EU", "pricing": "on_demand"}
    na = {"country": "US", "continent": "NA"}
    a = _offer(p1, price="2.00", sku="a", **eu)
    b = _offer(p2, price="3.00", sku="b", **eu)
    # as the offer writer stores a first change: the listing price at created_at, then the new one
    OfferPrice.objects.create(offer=b, price_per_hour=Decimal("4.00"), observed_at=LISTED)
    OfferPrice.objects.create(
        offer=b, price_per_hour=Decimal("3.00"), observed_at=datetime(2026, 12, 2, 10, tzinfo=UTC)
    )
    c = _offer(p1, price="2.00", gpus=2, sku="c", pricing="spot", **na)
    d = _offer(p3, price="5.00", sku="d", pricing="on_demand", status=OfferStatus.WITHDRAWN, **na)
    Offer.objects.filter(pk=d.pk).update(observed_at=datetime(2026, 12, 3, 8, tzinfo=UTC))
    e = _offer(p3, price="2.50", sku="e", listed=datetime(2026, 12, 4, 9, tzinfo=UTC), **eu)
    # left out
    _offer(p1, price="0.10", sku="a100", gpu=GpuModel.objects.get(name="A100", memory_gb=80), **eu)
    gone = _offer(p2, price="0.20", sku="gone", status=OfferStatus.WITHDRAWN, **eu)
    Offer.objects.filter(pk=gone.pk).update(observed_at=datetime(2026, 11, 20, tzinfo=UTC))
    _offer(p2, price="0.30", sku="euro", currency="EUR", **eu)
    return History(a, b, c, d, e)
