from .gpus import GpuModel, GpuVendor
from .offers import Offer, OfferPrice, OfferStatus, PricingModel
from .providers import Provider, ProviderKind
from .quotes import Quote
from .reservations import (
    LaunchAttempt,
    LaunchOutcome,
    Reservation,
    ReservationEvent,
    ReservationStatus,
)

__all__ = [
    "GpuModel",
    "GpuVendor",
    "LaunchAttempt",
    "LaunchOutcome",
    "Offer",
    "OfferPrice",
    "OfferStatus",
    "PricingModel",
    "Provider",
    "ProviderKind",
    "Quote",
    "Reservation",
    "ReservationEvent",
    "ReservationStatus",
]
