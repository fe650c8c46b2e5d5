"""A provider's offer list sent as a file (the provider pages): what it would change, then
the change itself, through the bulk upsert of `PUT /api/v1/provider/offers/`.

The preview and the apply compute the same diff; the apply refuses when it no longer equals
the one the person saw (the offers changed in between), so that nothing is written that
was not shown.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from django.db import transaction

from common.errors import DomainError
from marketplace.models import Offer, OfferStatus, Provider
from marketplace.services.offer_inputs import OfferInput
from marketplace.services.offer_writer import UpsertCounts
from marketplace.services.provider_offers import listed_offer_inputs, provider_offers_put


class ChangeKind(StrEnum):
    NEW = "new"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class OfferChange:
    """One offer in the diff: its identity, and price and capacity before and after (None
    where there is no before, or no after)."""

    kind: str
    sku: str
    region: str
    pricing: str
    offer_id: int | None
    old_price: Decimal | None = None
    new_price: Decimal | None = None
    old_available: int | None = None
    new_available: int | None = None

    def as_row(self) -> list:
        return [
            self.kind, self.sku, self.region, self.pricing, self.offer_id,
            *(None if v is None else str(v) for v in (self.old_price, self.new_price)),
            self.old_available, self.new_available,
        ]  # fmt: skip


@dataclass(frozen=True)
class OfferUploadPreview:
    changes: tuple[OfferChange, ...]

    def of_kind(self, kind: str) -> list[OfferChange]:
        return [c for c in self.changes if c.kind == kind]

    @property
    def fingerprint(self) -> str:
        """Equal for two previews exactly when they show the same changes."""
        text = json.dumps([c.as_row() for c in self.changes], separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def offer_upload_preview(
    *, provider: Provider, items: Sequence[dict], complete: bool, lock: bool = False
) -> OfferUploadPreview:
    """What `provider_offers_put` would do with `items`, without writing. Items come checked
    by the API's serializer; unknown GPUs and repeated keys raise as the API's PUT does."""
    inputs = listed_offer_inputs(provider=provider, items=items)
    offers = Offer.objects.filter(provider=provider).order_by("id")
    if lock:
        offers = offers.select_for_update()
    current = {(o.sku, o.region, o.zone, o.pricing): o for o in offers}
    changes = [_change(item, current.get(item.key[1:])) for item in inputs]
    if complete:
        listed = {item.key[1:] for item in inputs}
        changes += [
            _withdrawal(offer)
            for key, offer in current.items()
            if key not in listed and _withdrawn_by_complete_list(offer)
        ]
    return OfferUploadPreview(changes=tuple(changes))


@transaction.atomic
def offer_upload_apply(
    *, provider: Provider, items: Sequence[dict], complete: bool, fingerprint: str
) -> UpsertCounts:
    """Apply what the preview with `fingerprint` showed, or refuse (409) when the offers
    changed since. The provider's offers stay locked from the check to the write."""
    preview = offer_upload_preview(provider=provider, items=items, complete=complete, lock=True)
    if preview.fingerprint != fingerprint:
        raise DomainError(
            "conflict",
            "Your offers changed since the preview, so it no longer shows what the file "
            "would do: upload the file again to see the changes it makes now.",
        )
    return provider_offers_put(provider=provider, items=items, complete=complete)


def _change(item: OfferInput, offer: Offer | None) -> OfferChange:
    price, _ = item.prices()
    key = {"sku": item.sku, "region": item.region, "pricing": item.pricing}
    if offer is None:
        return OfferChange(
            ChangeKind.NEW, **key, offer_id=None, new_price=price, new_available=item.available
        )
    kind = ChangeKind.CHANGED if _differs(item, offer) else ChangeKind.UNCHANGED
    return OfferChange(
        kind, **key, offer_id=offer.pk,
        old_price=offer.price_per_hour, new_price=price,
        old_available=offer.available, new_available=item.available,
    )  # fmt: skip


def _differs(item: OfferInput, offer: Offer) -> bool:
    """The bulk upsert's own test (`offer_writer._upsert_sql`): a field it writes differs, or
    the offer is not active (it is listed again)."""
    if offer.status != OfferStatus.ACTIVE:
        return True
    written = item.field_values() | {"extra": item.extra, "feed_id": item.feed_id}
    return any(getattr(offer, name) != value for name, value in written.items())


def _withdrawn_by_complete_list(offer: Offer) -> bool:
    """`offers_withdraw_unseen`'s scope: the provider's own offers (no pricing feed) not
    already withdrawn."""
    return offer.feed_id is None and offer.status != OfferStatus.WITHDRAWN


def _withdrawal(offer: Offer) -> OfferChange:
    return OfferChange(
        ChangeKind.WITHDRAWN, sku=offer.sku, region=offer.region, pricing=offer.pricing,
        offer_id=offer.pk, old_price=offer.price_per_hour, old_available=offer.available,
        new_available=0,
    )  # fmt: skip
