"""Pricing sources by name. The registry (`brokers.registry`) adds the simulated cloud."""

from __future__ import annotations

from brokers.sources.aws import AwsPricingSource
from brokers.sources.azure import AzureRetailPricesSource
from brokers.sources.base import PricingSource
from brokers.sources.gpuhunt import GpuhuntCatalogSource
from brokers.sources.lambda_cloud import LambdaCloudSource
from brokers.sources.runpod import RunpodSource
from brokers.sources.skypilot import SkypilotCatalogSource
from brokers.sources.vast import VastSource

SOURCES: dict[str, type[PricingSource]] = {
    source.name: source
    for source in (
        SkypilotCatalogSource,
        GpuhuntCatalogSource,
        AzureRetailPricesSource,
        AwsPricingSource,
        LambdaCloudSource,
        RunpodSource,
        VastSource,
    )
}
