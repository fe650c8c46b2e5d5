"""Offer lifecycle writes: withdrawal of offers a complete list no longer has, staleness,
and offers seen again without being read (an unchanged pricing-source input)."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from marketplace.models import Offer, OfferStatus
from marketplace.services.offer_writer import commit_without_waiting


def offers_withdraw_unseen(*, provider_ids: Iterable[int], seen_since: datetime) -> int:
    """After a complete list of a provider's own offers (the provider API): its offers that
    come from no pricing-source input (`feed` NULL) and were not seen in it are withdrawn.
    Offers a pricing source wrote are that source's to withdraw."""
    return (
        Offer.objects.filter(
            provider_id__in=list(provider_ids), feed__isnull=True, observed_at__lt=seen_since
        )
        .exclude(status=OfferStatus.WITHDRAWN)
        .update(status=OfferStatus.WITHDRAWN, available=0)
    )


def offers_withdraw_unseen_of_source(
    *,
    feed_ids: Iterable[int],
    source_feed_ids: Iterable[int],
    provider_ids: Iterable[int],
    seen_since: datetime,
) -> int:
    """After a complete sync of a pricing source: the offers it no longer lists are
    withdrawn, and only its own (another source feeding the same provider is left alone).

    Those are the unseen offers of `feed_ids` (the inputs this run had, and the ones the
    source used to have and no longer does), and of any input of the source (`source_feed_ids`)
    for a provider the run listed: a run pointed at one file of a catalog folder withdraws
    what that provider no longer lists there. Offers without a feed (written before offers
    remembered their input) keep that provider rule too.
    """
    scope = Q(feed_id__in=list(feed_ids)) | Q(
        Q(feed__isnull=True) | Q(feed_id__in=list(source_feed_ids)),
        provider_id__in=list(provider_ids),
    )
    return (
        Offer.objects.filter(scope, observed_at__lt=seen_since)
        .exclude(status=OfferStatus.WITHDRAWN)
        .update(status=OfferStatus.WITHDRAWN, available=0)
    )


@dataclass(frozen=True)
class FeedTouch:
    touched: int  # offers whose observed_at moved
    reactivated: int  # of those, the ones that were stale and are active again


@functools.cache
def _touch_sql() -> str:
    # The offers an unchanged input gave in the sync that last read it (or touched it) are
    # exactly its offers seen since that sync started: every offer a sync writes or touches
    # gets observed_at >= its start, and observed_at never moves back. The provider filter
    # lets the planner find them through the identity index (provider_id first) instead of a
    # scan of the whole table, which matters when few of a catalog's inputs are unchanged.
    # Withdrawn offers stay withdrawn: only a read of the input brings one back.
    # `o.status` on the right of SET is the old value: only an offer that comes back from
    # stale gets updated_at = now, which is how RETURNING tells it apart (no self-join).
    offer = Offer._meta.db_table
    return f"""
    WITH touched AS (
        UPDATE {offer} o
        SET observed_at = greatest(o.observed_at, %(now)s), status = %(active)s,
            updated_at = CASE WHEN o.status = %(active)s THEN o.updated_at ELSE %(now)s END
        WHERE o.provider_id = ANY(%(providers)s) AND o.feed_id = ANY(%(feeds)s)
          AND o.observed_at >= %(since)s AND o.status <> %(withdrawn)s
        RETURNING o.feed_id, o.updated_at = %(now)s AS reactivated
    )
    SELECT feed_id, count(*), count(*) FILTER (WHERE reactivated) FROM touched GROUP BY feed_id
    """


def offers_touch_feeds(
    *, feed_ids: Sequence[int], provider_ids: Sequence[int], since: datetime, now: datetime
) -> dict[int, FeedTouch]:
    """The offers of inputs that have not changed since the sync that started at `since`:
    seen again at `now` (observed_at moves, stale ones are active again), in one statement,
    without reading the inputs. A heap-only update, like the upsert's bump of unchanged
    offers (neither column it writes on an active offer is in an index)."""
    if not feed_ids:
        return {}
    with transaction.atomic(), connection.cursor() as cursor:
        commit_without_waiting(cursor)
        cursor.execute(
            _touch_sql(),
            {
                "now": now,
                "since": since,
                "feeds": list(feed_ids),
                "providers": list(provider_ids),
                "active": OfferStatus.ACTIVE,
                "withdrawn": OfferStatus.WITHDRAWN,
            },
        )
        return {feed: FeedTouch(touched, back) for feed, touched, back in cursor.fetchall()}


def offers_mark_stale(
    *, provider_ids: Iterable[int], max_age: timedelta, now: datetime | None = None
) -> int:
    """Active offers of these providers not seen for `max_age` become stale: still listed
    (with that status), never quoted. Seeing them again makes them active."""
    cutoff = (now or timezone.now()) - max_age
    return Offer.objects.filter(
        provider_id__in=list(provider_ids), status=OfferStatus.ACTIVE, observed_at__lt=cutoff
    ).update(status=OfferStatus.STALE)


def offer_withdraw(*, offer: Offer) -> Offer:
    Offer.objects.filter(pk=offer.pk).update(status=OfferStatus.WITHDRAWN, available=0)
    offer.refresh_from_db()
    return offer
