"""The set-based tick and close keep the rules of the per-reservation path exactly: same
usage rows, same draft lines and totals, nothing twice, a lost meter task caught at the
close, amounts rounded once half up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from billing.models import Invoice, InvoiceLine, InvoiceStatus, UsageRecord
from billing.services.bulk import usage_meter_open_runs
from billing.services.finalisation import billing_period_close
from billing.services.invoices import reservation_meter_and_invoice
from billing.services.usage import reservations_to_meter, usage_record_for_reservation
from common.money import cost_of_seconds, round_amount
from marketplace.models import Reservation, ReservationRun, ReservationStatus
from tests.factories import OfferFactory, OrganizationFactory

pytestmark = pytest.mark.django_db

AUG_END = datetime(2026, 9, 1, tzinfo=UTC)


def at(seconds: int) -> datetime:
    """Seconds from the boundary between August and September 2026."""
    return AUG_END + timedelta(seconds=seconds)


def _reservation(org, offer, runs, *, status=ReservationStatus.RUNNING, currency="USD"):
    """A reservation with `runs`: (start, end or None, price) each."""
    reservation = Reservation.objects.create(
        org=org, offer=offer, gpus=1, units=1, hours=Decimal(10),
        price_per_hour=runs[-1][2], currency=currency, status=status,
        reserved_until=at(86_400), running_since=runs[0][0],
    )  # fmt: skip
    for number, (start, end, price) in enumerate(runs, start=1):
        ReservationRun.objects.create(
            reservation=reservation, number=number, offer=offer, price_per_hour=Decimal(price),
            currency=currency, started_at=start, ended_at=end,
        )  # fmt: skip
    return reservation


@pytest.fixture
def scenario():
    """Several orgs; runs crossing the month boundary; a closed run; a reservation
    preempted then relaunched at another price (two runs); EUR beside USD. Metered one
    reservation at a time at 23:59:30 on 31 August (and the closed run at its end)."""
    offer = OfferFactory(available=100)
    first, second, third = (OrganizationFactory() for _ in range(3))
    with time_machine.travel(at(-30), tick=False):
        _reservation(first, offer, [(at(-3_600), None, "3.600000")])
        closed = _reservation(
            first, offer, [(at(-1_000), at(-100), "1.234567")], status=ReservationStatus.TERMINATED
        )
        _reservation(
            second, offer, [(at(-7_200), at(-5_400), "2.500000"), (at(-40), None, "3.123457")]
        )
        _reservation(third, offer, [(at(-10), None, "0.018000")], currency="EUR")
        for reservation_id in [*reservations_to_meter(), closed.pk]:
            reservation_meter_and_invoice(reservation_id=reservation_id)
    with time_machine.travel(at(-5), tick=False):
        _reservation(second, offer, [(at(-5), None, "7.777777")])


def _state():
    usage = UsageRecord.objects.order_by("reservation_id", "interval_start").values_list(
        "reservation_id", "run_id", "org_id", "interval_start", "interval_end", "seconds",
        "price_per_hour", "currency",
    )  # fmt: skip
    lines = InvoiceLine.objects.order_by(
        "invoice__org_id", "invoice__period_start", "reservation_id", "price_per_hour"
    ).values_list(
        "invoice__org_id", "invoice__period_start", "invoice__currency", "invoice__status",
        "reservation_id", "kind", "service_period_start", "description", "seconds",
        "price_per_hour", "amount",
    )  # fmt: skip
    invoices = Invoice.objects.order_by("org_id", "period_start", "currency").values_list(
        "org_id", "period_start", "currency", "status", "subtotal", "total", "amount_due"
    )
    return list(usage), list(lines), list(invoices)


def _per_reservation_state(now: datetime):
    """What the per-reservation path makes of the same data, rolled back."""
    with transaction.atomic(), time_machine.travel(now, tick=False):
        for reservation_id in reservations_to_meter():
            reservation_meter_and_invoice(reservation_id=reservation_id)
        state = _state()
        transaction.set_rollback(True)
    return state


def test_it_records_the_same_rows_and_lines_as_the_per_reservation_path(scenario):
    # given what metering one reservation at a time makes of 20 minutes into September
    expected = _per_reservation_state(at(1_200))

    # when the set-based tick meters the same data at the same time
    recorded = usage_meter_open_runs(now=at(1_200))

    # then the usage rows, the draft lines and the totals are the same, row by row
    usage, lines, invoices = _state()
    assert (usage, lines, invoices) == expected
    assert recorded == 8  # 4 open runs, each cut at the boundary
    assert {line[1] for line in lines} == {datetime(2026, 8, 1, tzinfo=UTC), AUG_END}


def test_it_matches_the_per_reservation_path_after_a_month_is_closed(scenario):
    # given August metered to its end and closed (finalised)
    usage_meter_open_runs(now=at(600))
    billing_period_close(period=datetime(2026, 8, 1, tzinfo=UTC), now=at(3_600))
    expected = _per_reservation_state(at(7_200))

    # when the tick meters September further
    usage_meter_open_runs(now=at(7_200))

    # then it agrees with the per-reservation path
    assert _state() == expected


def test_it_adds_nothing_when_run_twice(scenario):
    # given a tick
    usage_meter_open_runs(now=at(1_200))
    before = _state()

    # when it runs again at the same time
    recorded = usage_meter_open_runs(now=at(1_200))

    # then nothing is recorded and no line or total moves
    assert recorded == 0
    assert _state() == before


def test_the_close_catches_a_reservation_whose_lines_were_never_billed(scenario):
    # given a new organization's reservation metered but never billed (a lost meter task)
    offer = OfferFactory(available=1)
    lost = _reservation(
        OrganizationFactory(), offer, [(at(-600), at(-60), "3.600000")],
        status=ReservationStatus.TERMINATED,
    )  # fmt: skip
    usage_record_for_reservation(reservation_id=lost.pk, now=at(0))
    usage_meter_open_runs(now=at(60))
    assert not InvoiceLine.objects.filter(reservation_id=lost.pk).exists()

    # when August is closed
    finalised = billing_period_close(period=datetime(2026, 8, 1, tzinfo=UTC), now=at(3_600))

    # then its 540 seconds are on a finalised invoice of August, 0.54 at $3.60/h
    invoice = Invoice.objects.get(org_id=lost.org_id)
    assert invoice in finalised and invoice.status == InvoiceStatus.OPEN
    assert list(invoice.lines.values_list("seconds", "amount")) == [(540, Decimal("0.54"))]
    assert invoice.total == Decimal("0.54")
    # and the reservation carries what it was billed
    lost.refresh_from_db()
    assert (lost.usage_seconds, lost.cost) == (540, Decimal("0.54"))
    # and every other August invoice adds up to its lines
    for invoice in finalised:
        assert invoice.total == sum(line.amount for line in invoice.lines.all())


def test_the_close_replaces_a_line_that_is_wrong(scenario):
    # given a draft line whose amount was never updated
    usage_meter_open_runs(now=at(600))
    line = InvoiceLine.objects.filter(service_period_start=datetime(2026, 8, 1, tzinfo=UTC))
    line = line.order_by("id").first()
    right = line.amount
    InvoiceLine.objects.filter(pk=line.pk).update(amount=right + Decimal("1.00"))
    Invoice.objects.filter(pk=line.invoice_id).update(subtotal=0, total=0, amount_due=0)

    # when August is closed
    billing_period_close(period=datetime(2026, 8, 1, tzinfo=UTC), now=at(3_600))

    # then the line is back to what is due (the totals move by the difference)
    fixed = InvoiceLine.objects.get(
        invoice_id=line.invoice_id, reservation_id=line.reservation_id,
        price_per_hour=line.price_per_hour,
    )  # fmt: skip
    assert fixed.amount == right
    assert Invoice.objects.get(pk=line.invoice_id).total == -Decimal("1.00")


EDGES = [
    (1, "18.000000"), (2, "9.000000"), (5, "3.600000"), (15, "3.600000"), (25, "3.600000"),
    (4_050, "1.000000"), (1, "0.018000"), (3_599, "0.000001"), (1, "54.000000"),
    (7, "12.857143"), (9, "0.002000"), (3_600, "0.005000"), (3_600, "0.015000"),
    (3_600, "2.345000"), (1_800, "0.010000"), (1_800, "0.030000"), (86_400, "1.234567"),
]  # fmt: skip


@pytest.mark.parametrize("currency", ["USD", "JPY"])
def test_sql_rounding_equals_round_amount_on_half_cent_edges(currency):
    # given amounts that end exactly on a half of the minor unit, and others around it
    cases = EDGES + [(seconds, f"0.{seconds * 37:06d}") for seconds in range(1, 200)]
    places = 0 if currency == "JPY" else 2

    # when PostgreSQL rounds them as the set-based paths do
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ROUND(t.s * t.p / 3600, %s) FROM unnest(%s::integer[], "
            "%s::numeric(14,6)[]) WITH ORDINALITY AS t(s, p, n) ORDER BY t.n",
            [places, [s for s, _ in cases], [Decimal(p) for _, p in cases]],
        )
        rounded = [row[0] for row in cursor.fetchall()]

    # then each equals common.money.round_amount (half up)
    expected = [round_amount(cost_of_seconds(s, Decimal(p)), currency) for s, p in cases]
    assert rounded == expected
    assert round_amount(cost_of_seconds(1, Decimal(18)), "USD") == Decimal("0.01")


def test_a_half_cent_line_is_rounded_up_by_the_tick():
    # given 5 s at $3.60/h (exactly half a cent), metered by the tick
    offer = OfferFactory(available=1)
    reservation = _reservation(OrganizationFactory(), offer, [(at(0), None, "3.600000")])

    # when the tick meters it
    usage_meter_open_runs(now=at(5))

    # then the line is a cent, as round_amount makes it
    line = InvoiceLine.objects.get(reservation=reservation)
    assert (line.seconds, line.amount) == (5, Decimal("0.01"))


def test_its_queries_do_not_grow_with_the_running_reservations():
    # given one running reservation, then ten more in other organizations
    offer = OfferFactory(available=100)
    _reservation(OrganizationFactory(), offer, [(at(0), None, "3.600000")])
    with CaptureQueriesContext(connection) as one:
        usage_meter_open_runs(now=at(60))
    for _ in range(10):
        _reservation(OrganizationFactory(), offer, [(at(60), None, "2.500000")])

    # when the tick meters all eleven
    with CaptureQueriesContext(connection) as eleven:
        recorded = usage_meter_open_runs(now=at(120))

    # then it takes the same statements
    assert recorded == 11
    assert len(eleven) == len(one) == 27


@pytest.mark.django_db(transaction=True)
def test_it_leaves_a_run_locked_elsewhere_for_the_next_tick():
    # given two running reservations, one of whose runs is locked by another transaction
    # (a run being closed, or metered by the per-reservation path)
    offer = OfferFactory(available=100)
    busy = _reservation(OrganizationFactory(), offer, [(at(0), None, "3.600000")])
    free = _reservation(OrganizationFactory(), offer, [(at(0), None, "3.600000")])
    other = connections.create_connection("default")
    other.set_autocommit(False)
    try:
        with other.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM marketplace_reservationrun WHERE reservation_id = %s FOR UPDATE",
                [busy.pk],
            )

        # when the tick runs: it does not wait for the lock
        recorded = usage_meter_open_runs(now=at(60))
    finally:
        other.rollback()
        other.close()

    # then only the free run is metered, and the next tick meters the other from its start
    assert recorded == 1
    assert not UsageRecord.objects.filter(reservation=busy).exists()
    usage_meter_open_runs(now=at(120))
    assert list(
        UsageRecord.objects.filter(reservation=busy).values_list("interval_start", "seconds")
    ) == [(at(0), 120)]
    assert UsageRecord.objects.filter(reservation=free).count() == 2
