"""Finalising invoices: gapless numbers, frozen rows, late usage as adjustments, the period
close (command and beat), and the finalize API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction

from billing.models import Invoice, InvoiceLine, InvoiceStatus
from billing.services.finalisation import billing_period_close, invoice_finalize
from billing.services.invoices import reservation_meter_and_invoice
from billing.tasks import close_billing_periods
from marketplace.models import Reservation, ReservationRun, ReservationStatus
from tests.factories import OfferFactory, make_org_with_key

pytestmark = pytest.mark.django_db

SEPTEMBER = datetime(2026, 9, 1, tzinfo=UTC)
OCTOBER = datetime(2026, 10, 1, tzinfo=UTC)
PRICE = Decimal("3.600000")  # a cent every 10 s


def _cents(seconds: int) -> Decimal:
    return (Decimal(seconds) * PRICE / 3600).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _running(org, since: datetime) -> Reservation:
    offer = OfferFactory()
    reservation = Reservation.objects.create(
        org=org,
        offer=offer,
        gpus=1,
        units=1,
        hours=Decimal(48),
        price_per_hour=PRICE,
        status=ReservationStatus.RUNNING,
        running_since=since,
        reserved_until=since + timedelta(hours=48),
    )
    ReservationRun.objects.create(
        reservation=reservation, number=1, offer=offer, price_per_hour=PRICE, currency="USD",
        started_at=since,
    )  # fmt: skip
    return reservation


def _meter(reservation: Reservation, at: datetime) -> None:
    with time_machine.travel(at, tick=False):
        reservation_meter_and_invoice(reservation_id=reservation.pk)


def _end(reservation: Reservation, at: datetime) -> None:
    Reservation.objects.filter(pk=reservation.pk).update(
        status=ReservationStatus.TERMINATED, ended_at=at
    )
    reservation.runs.update(ended_at=at)


def test_it_numbers_finalised_invoices_without_a_gap_in_commit_order():
    # given three organizations with usage in September
    invoices = []
    for _ in range(3):
        reservation = _running(make_org_with_key().org, SEPTEMBER + timedelta(days=3))
        _meter(reservation, SEPTEMBER + timedelta(days=3, seconds=100))
        invoices.append(Invoice.objects.get(org_id=reservation.org_id))

    # when the second finalisation fails and rolls back, and the others go through
    now = datetime(2026, 10, 2, 9, 0, tzinfo=UTC)
    first = invoice_finalize(invoice_id=invoices[0].pk, now=now)
    with pytest.raises(RuntimeError), transaction.atomic():
        invoice_finalize(invoice_id=invoices[1].pk, now=now)
        raise RuntimeError("the rest of the transaction failed")
    third = invoice_finalize(invoice_id=invoices[2].pk, now=now)
    second = invoice_finalize(invoice_id=invoices[1].pk, now=now)

    # then the numbers run 1, 2, 3 in the order the finalisations committed
    assert [first.number, third.number, second.number] == [
        "GM-2026-000001",
        "GM-2026-000002",
        "GM-2026-000003",
    ]
    assert (first.status, first.issued_at, first.due_at) == ("open", now, now + timedelta(days=14))
    assert (first.subtotal, first.tax, first.total, first.amount_due) == (
        _cents(100), Decimal("0.00"), _cents(100), _cents(100),
    )  # fmt: skip


def test_a_finalised_invoice_and_its_lines_cannot_change():
    reservation = _running(make_org_with_key().org, SEPTEMBER)
    _meter(reservation, SEPTEMBER + timedelta(seconds=60))
    invoice = invoice_finalize(invoice_id=Invoice.objects.get().pk)
    line = InvoiceLine.objects.get()

    for attempt in (
        lambda: Invoice.objects.filter(pk=invoice.pk).update(total=Decimal("0.01")),
        lambda: Invoice.objects.filter(pk=invoice.pk).update(number="GM-2026-999999"),
        lambda: Invoice.objects.filter(pk=invoice.pk).update(status=InvoiceStatus.DRAFT),
        lambda: Invoice.objects.filter(pk=invoice.pk).delete(),
        lambda: InvoiceLine.objects.filter(pk=line.pk).update(amount=Decimal("0.01")),
        lambda: InvoiceLine.objects.filter(pk=line.pk).delete(),
        lambda: InvoiceLine.objects.create(
            invoice=invoice,
            reservation=reservation,
            service_period_start=SEPTEMBER,
            kind="credit",
            description="x",
            seconds=0,
            price_per_hour=PRICE,
            amount=Decimal(-1),
        ),  # fmt: skip
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            attempt()

    # what may change: its status and what is still owed (payment)
    Invoice.objects.filter(pk=invoice.pk).update(status=InvoiceStatus.PAID, amount_due=0)
    assert Invoice.objects.get(pk=invoice.pk).total == _cents(60)


def test_usage_after_a_finalisation_goes_on_a_new_draft_rounded_once_over_the_month():
    # given 15 s of September on an invoice finalised mid-month (0.015 -> 0.02)
    reservation = _running(make_org_with_key().org, SEPTEMBER + timedelta(days=10))
    _meter(reservation, SEPTEMBER + timedelta(days=10, seconds=15))
    finalised = invoice_finalize(invoice_id=Invoice.objects.get().pk)
    assert finalised.total == Decimal("0.02")

    # when 15 more seconds of September are metered
    _meter(reservation, SEPTEMBER + timedelta(days=10, seconds=30))

    # then a new September draft bills them: 30 s come to 0.03 in all, so 0.01 more
    draft = Invoice.objects.get(status=InvoiceStatus.DRAFT)
    assert (draft.period_start, draft.total) == (SEPTEMBER, Decimal("0.01"))
    assert list(draft.lines.values_list("kind", "seconds", "amount")) == [
        ("compute", 15, Decimal("0.01"))
    ]


def test_usage_that_arrives_after_the_close_is_an_adjustment_on_the_next_invoice():
    # given a reservation running since 23:59:00 on 30 September, metered to 23:59:40
    org = make_org_with_key().org
    reservation = _running(org, OCTOBER - timedelta(seconds=60))
    _meter(reservation, OCTOBER - timedelta(seconds=20))
    # and September closed after the grace, while the meter task of its last 20 s was lost
    closed = billing_period_close(period=SEPTEMBER, now=OCTOBER + timedelta(hours=2))
    assert [(i.number, i.total) for i in closed] == [("GM-2026-000001", _cents(40))]

    # when the reservation is metered again on 2 October and ends there
    _end(reservation, OCTOBER + timedelta(days=1, seconds=100))
    _meter(reservation, OCTOBER + timedelta(days=1, seconds=200))

    # then September's last 20 s are an adjustment on October's draft, beside October's usage
    draft = Invoice.objects.get(status=InvoiceStatus.DRAFT)
    lines = draft.lines.order_by("service_period_start")
    assert draft.period_start == OCTOBER
    assert list(lines.values_list("kind", "service_period_start", "seconds", "amount")) == [
        ("adjustment", SEPTEMBER, 20, _cents(60) - _cents(40)),
        ("compute", OCTOBER, 86_500, _cents(86_500)),
    ]
    assert draft.total == _cents(60) - _cents(40) + _cents(86_500)
    # and the filed September invoice is as it was
    assert Invoice.objects.get(number="GM-2026-000001").total == _cents(40)


def test_closing_a_period_finalises_each_draft_once_and_drops_empty_ones():
    for _ in range(2):
        reservation = _running(make_org_with_key().org, SEPTEMBER)
        _meter(reservation, SEPTEMBER + timedelta(seconds=50))
    empty = Invoice.objects.create(
        org=make_org_with_key().org, period_start=SEPTEMBER, period_end=OCTOBER
    )

    first = billing_period_close(period=SEPTEMBER, now=OCTOBER + timedelta(hours=2))
    again = billing_period_close(period=SEPTEMBER, now=OCTOBER + timedelta(hours=3))

    assert [i.number for i in first] == ["GM-2026-000001", "GM-2026-000002"]
    assert again == []
    assert not Invoice.objects.filter(pk=empty.pk).exists()


def test_the_beat_waits_for_the_grace_after_the_month_ends(settings):
    settings.BILLING_GRACE_SECONDS = 3600
    reservation = _running(make_org_with_key().org, SEPTEMBER)
    _end(reservation, SEPTEMBER + timedelta(seconds=50))
    _meter(reservation, SEPTEMBER + timedelta(seconds=60))

    with time_machine.travel(OCTOBER + timedelta(minutes=59), tick=False):
        assert close_billing_periods() == 0
    with time_machine.travel(OCTOBER + timedelta(minutes=61), tick=False):
        assert close_billing_periods() == 1
        assert close_billing_periods() == 0
    assert Invoice.objects.get().status == InvoiceStatus.OPEN


@pytest.mark.parametrize(
    ("period", "message"),
    [
        ("2026-13", "is not a month written YYYY-MM"),
        ("September", "is not a month written YYYY-MM"),
        ("2026-10", "has not ended yet"),
    ],
)
def test_the_command_refuses_a_bad_or_unfinished_period(period, message):
    with (
        time_machine.travel(OCTOBER + timedelta(days=5), tick=False),
        pytest.raises(CommandError, match=message),
    ):
        call_command("close_billing_period", period=period)


def test_the_command_closes_last_month_by_default(capsys):
    reservation = _running(make_org_with_key().org, SEPTEMBER)
    _meter(reservation, SEPTEMBER + timedelta(seconds=50))
    with time_machine.travel(OCTOBER + timedelta(days=5), tick=False):
        call_command("close_billing_period")
        call_command("close_billing_period")
    out = capsys.readouterr().out
    assert "GM-2026-000001" in out
    assert "2026-09: 1 invoice(s) finalised." in out
    assert "2026-09: 0 invoice(s) finalised." in out


def test_the_api_finalises_a_draft_once_for_finance_roles_only(api_client):
    finance = make_org_with_key(role="finance")
    reservation = _running(finance.org, SEPTEMBER)
    _meter(reservation, SEPTEMBER + timedelta(seconds=50))
    invoice = Invoice.objects.get()
    url = f"/api/v1/invoices/{invoice.pk}/finalize/"
    buyer = make_org_with_key(role="buyer")
    outsider = make_org_with_key(role="owner")

    assert api_client.post(url, **outsider.headers).status_code == 404
    refused = api_client.post(url, **buyer.headers)
    first = api_client.post(url, **finance.headers)
    again = api_client.post(url, **finance.headers)

    assert refused.status_code in (403, 404)
    assert first.status_code == 200, first.content
    body = first.json()
    assert (body["number"], body["status"], body["total"], body["amount_due"]) == (
        "GM-2026-000001", "open", "0.05", "0.05",
    )  # fmt: skip
    assert body["lines"][0] | {"id": None} == {
        "id": None,
        "kind": "compute",
        "component": "compute",
        "reservation": reservation.pk,
        "service_period_start": "2026-09-01T00:00:00Z",
        "description": f"Reservation {reservation.pk}, usage of 2026-09: 50 s at 3.600000/h",
        "quantity": "0.013889",
        "unit": "hour",
        "unit_price": "3.600000",
        "seconds": 50,
        "gigabytes": "0.000000",
        "price_per_hour": "3.600000",
        "amount": "0.05",
    }
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "invoice_not_draft"


def test_the_admin_shows_a_finalised_invoice_read_only(admin_client):
    reservation = _running(make_org_with_key().org, SEPTEMBER)
    _meter(reservation, SEPTEMBER + timedelta(seconds=50))
    draft = Invoice.objects.get()
    draft_page = admin_client.get(f"/admin/billing/invoice/{draft.pk}/change/").content.decode()
    assert 'name="total"' in draft_page

    invoice = invoice_finalize(invoice_id=draft.pk)
    page = admin_client.get(f"/admin/billing/invoice/{invoice.pk}/change/").content.decode()
    delete = admin_client.post(f"/admin/billing/invoice/{invoice.pk}/delete/", {"post": "yes"})

    assert 'name="total"' not in page and 'name="status"' in page
    assert delete.status_code == 403
    assert Invoice.objects.filter(pk=invoice.pk).exists()
