from .gpus import GpuModel, GpuVendor
from .launch_requests import LaunchRequest, LaunchRequestKind, LaunchRequestStatus
from .offers import Offer, OfferPrice, OfferStatus, PriceFeed, PricingModel
from .price_index import PriceIndexRow
from .provider_events import ProviderEvent, ProviderEventType
from .providers import Provider, ProviderKind
from .quotes import Quote
from .reservations import (
    EgressReport,
    LaunchAttempt,
    LaunchOutcome,
    Reservation,
    ReservationEvent,
    ReservationRun,
    ReservationStatus,
)

__all__ = [
    "EgressReport",
    "GpuModel",
    "GpuVendor",
    "LaunchAttempt",
    "LaunchOutcome",
    "LaunchRequest",
    "LaunchRequestKind",
    "LaunchRequestStatus",
    "Offer",
    "OfferPrice",
    "OfferStatus",
    "PriceFeed",
    "PriceIndexRow",
    "PricingModel",
    "Provider",
    "ProviderEvent",
    "ProviderEventType",
    "ProviderKind",
    "Quote",
    "Reservation",
    "ReservationEvent",
    "ReservationRun",
    "ReservationStatus",
]
