"""Every offer records its GPU model's memory, whatever the provider wrote: quotes that bound
GPU memory without naming a model read only the models whose memory fits
(marketplace/quoting/stream_layout.py, `_gpus_with_memory`), which is exact only while this holds."""

from __future__ import annotations

from decimal import Decimal

import pytest

from brokers.services.normalise import Normaliser
from brokers.sources.base import OfferRow
from marketplace.models import GpuModel

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("label", "memory_mib"),
    [
        ("T4", 15360),  # providers report usable memory: 15 GiB for the 16 GB card
        ("A100", 81920),
        ("A100-80GB", None),
        ("NVIDIA H100 80GB HBM3", 81559),
        ("L4", None),
    ],
)
def test_an_offer_records_its_gpu_models_memory(label, memory_mib):
    row = OfferRow(
        sku="box",
        provider="somecloud",
        gpu_label=label,
        gpu_count=1,
        price_per_hour=Decimal(1),
        gpu_memory_mib=memory_mib,
    )
    offer = Normaliser().normalise(row)
    assert offer.gpu_id is not None
    assert offer.gpu_memory_gb == GpuModel.objects.get(pk=offer.gpu_id).memory_gb
