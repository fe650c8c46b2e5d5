"""Offers that providers list themselves through the API: normalise, upsert, withdraw.

The same services as the pricing syncs (`offer_upsert_batch` appends price history on a
change, `offers_withdraw_unseen` withdraws what a complete list left out) and the same GPU
and location normalisation, so a listed offer is indistinguishable from a synced one.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Sequence
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from common.errors import DomainError
from marketplace.gpu_names import interconnect_from_label, load_catalog, resolve
from marketplace.locations import locate
from marketplace.models import (
    GpuModel,
    Offer,
    OfferStatus,
    Provider,
    Reservation,
    ReservationStatus,
)
from marketplace.services.offer_inputs import OfferInput
from marketplace.services.offer_lifecycle import offer_withdraw, offers_withdraw_unseen
from marketplace.services.offer_writer import UpsertCounts, offer_upsert_batch

MAX_REPORTED_ERRORS = 20
# The fields of an offer a provider sets; `sku`, `region` and `pricing` identify it.
IDENTITY_FIELDS = ("sku", "region", "pricing")
SPEC_FIELDS = ("gpu", "gpu_count", "vcpus", "memory_gb", "disk_gb", "price_per_hour", "available")


@functools.cache
def _gpu_spellings() -> tuple[str, ...]:
    return tuple(
        sorted({spelling for spec in load_catalog() for spelling in (spec.name, *spec.aliases)})
    )


def gpu_hint(label: str) -> str:
    close = difflib.get_close_matches(label, _gpu_spellings(), n=3, cutoff=0.6)
    known = "Canonical names and aliases are listed at /api/v1/gpus/."
    return f"Did you mean {', '.join(close)}? {known}" if close else known


class _GpuIds:
    """Canonical GPU ids by (vendor, name, memory), loaded once per request."""

    def __init__(self) -> None:
        self._ids = {(g.vendor, g.name, g.memory_gb): g.pk for g in GpuModel.objects.all()}

    def resolve(self, label: str) -> tuple[int, int] | None:
        spec = resolve(label)
        gpu_id = self._ids.get(spec.key) if spec else None
        return None if gpu_id is None else (gpu_id, spec.memory_gb)


# Reservations the provider has not confirmed yet: it cannot know about them, so the capacity
# it reports still counts their units. Confirmed (running) ones are in its own count.
UNCONFIRMED_STATUSES = (ReservationStatus.PENDING, ReservationStatus.LAUNCHING)


def held_by_unconfirmed(*, provider: Provider, offer: Offer | None = None) -> dict[tuple, int]:
    """Units our unconfirmed reservations hold, by (sku, region, pricing)."""
    reservations = Reservation.objects.filter(
        offer__provider=provider, status__in=UNCONFIRMED_STATUSES
    )
    if offer is not None:
        reservations = reservations.filter(offer=offer)
    rows = reservations.values("offer__sku", "offer__region", "offer__pricing").annotate(
        units=Sum("units")
    )
    return {(r["offer__sku"], r["offer__region"], r["offer__pricing"]): r["units"] for r in rows}


def _offer_input(provider: Provider, item: dict, gpu: tuple[int, int], held: int = 0) -> OfferInput:
    gpu_id, memory_gb = gpu
    place = locate(item["region"])
    return OfferInput(
        provider_id=provider.pk,
        sku=item["sku"],
        gpu_id=gpu_id,
        gpu_count=item["gpu_count"],
        gpu_memory_gb=Decimal(memory_gb),
        price_per_hour=item["price_per_hour"],
        pricing=item["pricing"],
        vcpus=item["vcpus"],
        memory_gb=item["memory_gb"],
        disk_gb=item["disk_gb"],
        region=item["region"],
        country=place.country,
        continent=place.continent,
        # Never oversell: what the provider reports minus what we sold it has not seen yet.
        available=max(0, item["available"] - held),
        interconnect=interconnect_from_label(item["gpu"]),
    )


def _item_error(index: int, code: str, message: str, **extra) -> dict:
    return {"index": index, "code": code, "message": message, **extra}


def raise_item_errors(errors: list[dict]) -> None:
    """One 400 for a list: the first error's code and message, every error in `errors`."""
    if not errors:
        return
    first = errors[0]
    extra = {k: v for k, v in first.items() if k not in ("code", "message")}
    message = f"offers[{first['index']}]: {first['message']}"
    raise DomainError(first["code"], message, **extra, errors=errors)


def listed_offer_inputs(*, provider: Provider, items: Sequence[dict]) -> list[OfferInput]:
    """Validated items (shapes already checked) -> OfferInputs; unknown GPUs and repeated
    keys are refused with the index of each bad item."""
    gpus = _GpuIds()
    held = held_by_unconfirmed(provider=provider)
    inputs, errors, seen = [], [], {}
    for index, item in enumerate(items):
        gpu = gpus.resolve(item["gpu"])
        key = tuple(item[f] for f in IDENTITY_FIELDS)
        if gpu is None:
            message = f"Unknown GPU {item['gpu']!r}."
            errors.append(_item_error(index, "unknown_gpu", message, hint=gpu_hint(item["gpu"])))
        elif key in seen:
            message = f"sku, region and pricing repeat offers[{seen[key]}]."
            errors.append(_item_error(index, "duplicate_offer", message))
        else:
            seen[key] = index
            inputs.append(_offer_input(provider, item, gpu, held.get(key, 0)))
        if len(errors) >= MAX_REPORTED_ERRORS:
            break
    raise_item_errors(errors)
    return inputs


@transaction.atomic
def provider_offers_put(
    *, provider: Provider, items: Sequence[dict], complete: bool
) -> UpsertCounts:
    """Idempotent bulk upsert keyed by sku + region + pricing. With `complete`, the
    provider's offers left out of the list are withdrawn."""
    inputs = listed_offer_inputs(provider=provider, items=items)
    # One timestamp for the whole list: rows it touched are exactly those seen "since" it.
    observed_at = timezone.now()
    counts = offer_upsert_batch(batch=inputs, observed_at=observed_at)
    if complete:
        counts.withdrawn = offers_withdraw_unseen(
            provider_ids=[provider.pk], seen_since=observed_at
        )
    return counts


def _offer_by_key(provider: Provider, item: dict) -> Offer | None:
    return Offer.objects.filter(
        provider=provider, zone="", **{f: item[f] for f in IDENTITY_FIELDS}
    ).first()


@transaction.atomic
def provider_offer_create(*, provider: Provider, item: dict) -> Offer:
    existing = _offer_by_key(provider, item)
    if existing is not None and existing.status != OfferStatus.WITHDRAWN:
        raise DomainError(
            "offer_exists",
            f"Offer {existing.pk} already has this sku, region and pricing: update it instead.",
            offer=existing.pk,
        )
    (offer_input,) = listed_offer_inputs(provider=provider, items=[item])
    offer_upsert_batch(batch=[offer_input], observed_at=timezone.now())
    return _offer_by_key(provider, item)


def _gpu_label(offer: Offer) -> str:
    """A label that resolves back to the same variant: "A100" alone would be the 40 GB one."""
    if offer.gpu is None:
        return ""
    return f"{offer.gpu.name} {offer.gpu.memory_gb}GB" if offer.gpu.memory_gb else offer.gpu.name


def offer_as_item(offer: Offer) -> dict:
    """An offer in the shape providers send, to merge a partial update into. Its capacity is
    the provider's view (ours plus unconfirmed reservations), so an update that leaves
    `available` out keeps it as it is."""
    held = sum(held_by_unconfirmed(provider=offer.provider, offer=offer).values())
    return _item_of(offer, held)


def offers_as_items(*, provider: Provider, offers: Sequence[Offer]) -> list[dict]:
    """`offer_as_item` for many offers of one provider, with one query for what is held."""
    held = held_by_unconfirmed(provider=provider)
    return [_item_of(o, held.get((o.sku, o.region, o.pricing), 0)) for o in offers]


def _item_of(offer: Offer, held: int) -> dict:
    return {
        "sku": offer.sku,
        "region": offer.region,
        "pricing": offer.pricing,
        "gpu": _gpu_label(offer),
        "gpu_count": offer.gpu_count,
        "vcpus": offer.vcpus,
        "memory_gb": offer.memory_gb,
        "disk_gb": offer.disk_gb,
        "price_per_hour": offer.price_per_hour,
        "available": offer.available + held,
    }


@transaction.atomic
def provider_offer_update(*, offer: Offer, item: dict) -> Offer:
    """Replace the offer's price, capacity and specs (identity unchanged). A withdrawn offer
    that is updated is listed again. A price change never touches reservations: they
    locked their price."""
    changed = [f for f in IDENTITY_FIELDS if item[f] != getattr(offer, f)]
    if changed:
        raise DomainError(
            "immutable_field",
            f"{', '.join(changed)} identify an offer and cannot change: withdraw it and create another.",
            fields=changed,
        )
    (offer_input,) = listed_offer_inputs(provider=offer.provider, items=[item])
    offer_upsert_batch(batch=[offer_input], observed_at=timezone.now())
    offer.refresh_from_db()
    return offer


def provider_offer_withdraw(*, offer: Offer) -> Offer:
    """Withdrawn offers leave the listing and take no new reservations; running ones go on."""
    return offer_withdraw(offer=offer)
