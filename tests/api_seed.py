"""Seed data for the tests that call the whole API through its schema (schemathesis): one
organization with something behind every path parameter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from billing.models import Invoice, InvoiceLine, InvoiceStatus
from billing.periods import previous_month_start
from billing.services.credit_notes import CreditRequest, credit_note_issue
from billing.services.payouts import payout_account_put, statements_build
from marketplace.models import LaunchRequest, LaunchRequestKind, Reservation
from tests.factories import KeyedOrg, OfferFactory, ProviderFactory, make_org_with_key


@dataclass
class Seeded:
    owner: KeyedOrg  # an organization that buys and also lists its own provider
    path_ids: dict[str, object]  # a real id for each path parameter
    provider_id: int  # the organization's own provider


def seed_api_org() -> Seeded:
    """An owner's organization with a key, its own provider, an offer, a reservation with a
    launch request, a paid invoice with a credit note, and a payout statement."""
    owner = make_org_with_key(role="owner")
    provider = ProviderFactory(slug="ownrig", org=owner.org, webhook_url="https://rig.test/h")
    offer = OfferFactory(provider=provider, sku="rig.h100", reliability=Decimal("0.9900"))
    OfferFactory(sku="other.h100")
    reservation = Reservation.objects.create(
        org=owner.org,
        created_by=owner.user,
        offer=offer,
        gpus=1,
        units=1,
        hours=Decimal(2),
        price_per_hour=offer.price_per_hour,
        max_price_per_hour=offer.price_per_hour,
        reserved_until=timezone.now() + timedelta(hours=2),
    )
    LaunchRequest.objects.create(
        reservation=reservation,
        provider=provider,
        kind=LaunchRequestKind.LAUNCH,
        key=f"reservation-{reservation.pk}-launch",
        payload={"reservation": reservation.pk, "gpus": 1},
        answer_by=timezone.now() + timedelta(minutes=5),
    )
    now = timezone.now()
    invoice = Invoice.objects.create(
        org=owner.org,
        period_start=now - timedelta(days=30),
        period_end=now,
        total=Decimal("5.00"),
    )
    InvoiceLine.objects.create(
        invoice=invoice,
        reservation=reservation,
        service_period_start=invoice.period_start,
        description="H100 x1",
        seconds=7200,
        price_per_hour=offer.price_per_hour,
        amount=Decimal("5.00"),
    )
    # lines go on a draft; a finalised invoice's lines cannot change
    Invoice.objects.filter(pk=invoice.pk).update(
        status=InvoiceStatus.PAID, number="GM-2026-000001", issued_at=now
    )
    note = credit_note_issue(
        invoice_id=invoice.pk, request=CreditRequest(reason="slow GPU", amount=Decimal("1.00"))
    )
    # the provider's payout account, and a statement of the line and its credit
    payout_account_put(provider=provider, stripe_account="acct_1OwnRig")
    (statement,) = statements_build(period=previous_month_start(now), now=now)
    ids = {
        "statement_id": statement.pk,
        "offer_id": offer.pk,
        "reservation_id": reservation.pk,
        "invoice_id": invoice.pk,
        "credit_note_id": note.pk,
    }
    return Seeded(owner=owner, path_ids=ids, provider_id=provider.pk)
