"""The spend page: a month's invoice lines by day, GPU model and provider, against the
budget. The expected figures are added up here by hand from the lines made below.

November 2026, today the 20th (UTC). With no usage recorded, a line counts on the day its
reservation was made (spreading by running time is tested on its own). The organization's
November draft:
- reservation 1, H100 80GB at Acme, made 3 Nov 10:00: compute 10.05, disk 0.40;
- reservation 2, T9 48GB at Bolt, made 3 Nov 23:59: compute 3.33;
- reservation 3, H100 80GB at Bolt, made 28 Oct (carried over): compute 2.22 → on 1 Nov.
Left out: a void November invoice (99.00), another organization's line (50.00), a EUR
invoice (7.00). October (paid): reservation 3, 5.00 on 28 Oct.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from accounts.models import Role
from billing.models import Budget, Invoice, InvoiceLine, InvoiceStatus, UsageRecord
from billing.selectors_spend import org_month_spend_breakdown
from marketplace.models import GpuModel, Reservation
from tests.factories import MembershipFactory, OfferFactory, ProviderFactory

pytestmark = pytest.mark.django_db

OCTOBER = datetime(2026, 10, 1, tzinfo=UTC)
NOVEMBER = datetime(2026, 11, 1, tzinfo=UTC)
DECEMBER = datetime(2026, 12, 1, tzinfo=UTC)
TODAY = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel(TODAY, tick=False):
        yield


def _reservation(org, *, provider, gpu, made: datetime) -> Reservation:
    offer = OfferFactory(provider=provider, gpu=gpu)
    reservation = Reservation.objects.create(
        org=org, offer=offer, gpus=1, units=1, hours=Decimal(1),
        price_per_hour=Decimal("1.000000"), reserved_until=made + timedelta(hours=1),
    )  # fmt: skip
    Reservation.objects.filter(pk=reservation.pk).update(created_at=made)
    return reservation


def _invoice(org, period, lines, *, status=InvoiceStatus.DRAFT, currency="USD") -> None:
    """An invoice with `lines` of (reservation, amount[, component]): written as a draft, then
    given its status (the lines of a finalised invoice cannot change)."""
    end = NOVEMBER if period == OCTOBER else DECEMBER
    invoice = Invoice.objects.create(
        org=org, period_start=period, period_end=end, currency=currency
    )
    for reservation, amount, *component in lines:
        _line(invoice, reservation, amount, *component)
    Invoice.objects.filter(pk=invoice.pk).update(status=status)


def _line(invoice, reservation, amount: str, component="compute") -> None:
    InvoiceLine.objects.create(
        invoice=invoice, reservation=reservation, kind=component, component=component,
        service_period_start=invoice.period_start, description="usage", seconds=3600,
        price_per_hour=Decimal(amount), amount=Decimal(amount),
    )  # fmt: skip


@pytest.fixture
def member(client):
    member = MembershipFactory(role=Role.FINANCE)
    client.force_login(member.user)
    org = member.org
    acme = ProviderFactory(slug="acme", name="Acme")
    bolt = ProviderFactory(slug="bolt", name="Bolt")
    h100 = GpuModel.objects.get(name="H100", memory_gb=80)
    t9 = GpuModel.objects.create(vendor="nvidia", name="T9", memory_gb=48)
    first = _reservation(org, provider=acme, gpu=h100, made=datetime(2026, 11, 3, 10, tzinfo=UTC))
    second = _reservation(
        org, provider=bolt, gpu=t9, made=datetime(2026, 11, 3, 23, 59, tzinfo=UTC)
    )
    third = _reservation(org, provider=bolt, gpu=h100, made=datetime(2026, 10, 28, 8, tzinfo=UTC))
    _invoice(org, NOVEMBER, [(first, "99.00")], status=InvoiceStatus.VOID)
    _invoice(org, NOVEMBER, [(first, "10.05"), (first, "0.40", "disk"), (second, "3.33"),
                             (third, "2.22")])  # fmt: skip
    _invoice(org, NOVEMBER, [(first, "7.00")], currency="EUR")
    _invoice(org, OCTOBER, [(third, "5.00")], status=InvoiceStatus.PAID)
    stranger = MembershipFactory(role=Role.OWNER).org
    theirs = _reservation(stranger, provider=acme, gpu=h100, made=TODAY)
    _invoice(stranger, NOVEMBER, [(theirs, "50.00")])
    return member


def _amounts(rows) -> dict[str, Decimal]:
    return {row.label: row.amount for row in rows}


def test_the_month_is_grouped_by_day_gpu_and_provider(member):
    month = org_month_spend_breakdown(org=member.org, period=NOVEMBER, currency="USD", now=TODAY)

    assert month.total == Decimal("10.05") + Decimal("0.40") + Decimal("3.33") + Decimal("2.22")
    days = _amounts(month.by_day)
    assert list(days) == [f"2026-11-{day:02}" for day in range(1, 21)]  # up to today
    assert days["2026-11-01"] == Decimal("2.22")
    assert days["2026-11-03"] == Decimal("13.78")
    assert sum(days.values()) == Decimal("16.00")
    assert _amounts(month.by_gpu) == {"H100 80GB": Decimal("12.67"), "T9 48GB": Decimal("3.33")}
    assert [row.label for row in month.by_provider] == ["Acme", "Bolt"]  # dearest first
    assert _amounts(month.by_provider) == {"Acme": Decimal("10.45"), "Bolt": Decimal("5.55")}


def test_a_past_month_has_all_its_days(member):
    month = org_month_spend_breakdown(org=member.org, period=OCTOBER, currency="USD", now=TODAY)

    assert len(month.by_day) == 31
    assert _amounts(month.by_day)["2026-10-28"] == Decimal("5.00")
    assert month.total == Decimal("5.00")


def _ran(reservation, start: datetime, hours: int, price: str) -> None:
    UsageRecord.objects.create(
        reservation=reservation, org=reservation.org, interval_start=start,
        interval_end=start + timedelta(hours=hours), seconds=hours * 3600,
        price_per_hour=Decimal(price), currency="USD",
    )  # fmt: skip


def _priced_line(invoice, reservation, component: str, amount: str, price: str) -> None:
    InvoiceLine.objects.create(
        invoice=invoice, reservation=reservation, kind=component, component=component,
        service_period_start=invoice.period_start, description=component, seconds=0,
        price_per_hour=Decimal(price), amount=Decimal(amount),
    )  # fmt: skip


def test_running_time_is_spread_over_the_days_it_ran():
    # given a reservation made 5 Nov 22:00 that ran 3 h at 2.00/h across midnight, then 1 h
    # at 3.00/h after a failover; and one carried over from 31 Oct 23:00 for 2 h at 1.00/h
    org = MembershipFactory(role=Role.FINANCE).org
    acme = ProviderFactory(slug="acme", name="Acme")
    h100 = GpuModel.objects.get(name="H100", memory_gb=80)
    fifth = datetime(2026, 11, 5, 22, tzinfo=UTC)
    late = _reservation(org, provider=acme, gpu=h100, made=fifth)
    _ran(late, fifth, 3, "2.000000")
    _ran(late, fifth + timedelta(hours=3), 1, "3.000000")
    halloween = datetime(2026, 10, 31, 23, tzinfo=UTC)
    carried = _reservation(org, provider=acme, gpu=h100, made=halloween)
    _ran(carried, halloween, 2, "1.000000")
    november = Invoice.objects.create(
        org=org, period_start=NOVEMBER, period_end=DECEMBER, currency="USD"
    )
    _priced_line(november, late, "compute", "6.00", "2.000000")
    _priced_line(november, late, "compute", "3.00", "3.000000")
    _priced_line(november, late, "disk", "0.41", "0.102500")
    _priced_line(november, late, "boot", "0.50", "2.000000")
    _priced_line(november, carried, "compute", "1.00", "1.000000")

    month = org_month_spend_breakdown(org=org, period=NOVEMBER, currency="USD", now=TODAY)

    days = _amounts(month.by_day)
    # 1 Nov: the carried reservation's November hour. 5 Nov: 2 h of the 3 at 2.00 (4.00), half
    # the disk's 4 h (0.205: 0.20, and the cent left over to the earlier of two equal
    # remainders, 0.21) and the start-up on the day it was made (0.50). 6 Nov: 1 h at 2.00,
    # 1 h at 3.00 and the disk's other half, 0.20.
    assert days["2026-11-01"] == Decimal("1.00")
    assert days["2026-11-05"] == Decimal("4.00") + Decimal("0.21") + Decimal("0.50")
    assert days["2026-11-06"] == Decimal("2.00") + Decimal("3.00") + Decimal("0.20")
    assert sum(days.values()) == month.total == Decimal("10.91")


def _cell(html: str, table: str, label: str) -> str:
    body = html.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    return re.search(rf'<th scope="row">{re.escape(label)}</th><td class="num">([^<]+)</td>', body)[
        1
    ]


def test_the_page_shows_the_tables_and_the_budget(client, member):
    Budget.objects.create(org=member.org, monthly_limit=Decimal("20.00"), currency="USD")

    html = client.get("/invoices/spend/").content.decode()

    assert re.search(r'id="total">16.00 USD<', html)
    assert "20.00 USD" in html and 'id="budget-share">80 %<' in html
    assert _cell(html, "by-day", "2026-11-03") == "13.78"
    assert _cell(html, "by-day", "2026-11-02") == "0.00"
    assert _cell(html, "by-gpu", "H100 80GB") == "12.67"
    assert _cell(html, "by-provider", "Bolt") == "5.55"
    assert "99.00" not in html and "50.00" not in html
    assert "style=" not in html


def test_the_chart_draws_a_bar_a_day_scaled_to_the_dearest(client, member):
    html = client.get("/invoices/spend/?period=2026-11").content.decode()

    svg = html.split('<svg class="chart"', 1)[1].split("</svg>", 1)[0]
    heights = re.findall(r'<rect class="bar" x="\d+" y="[\d.]+" width="20" height="([\d.]+)">', svg)
    assert len(heights) == 20
    assert Decimal(heights[2]) == Decimal(160)  # 3 Nov, the dearest day
    assert Decimal(heights[0]) == (Decimal(160) * Decimal("2.22") / Decimal("13.78")).quantize(
        Decimal("0.1")
    )
    assert "<title>2026-11-03: 13.78</title>" in svg


def test_the_month_picker_shows_a_past_month(client, member):
    html = client.get("/invoices/spend/?period=2026-10").content.decode()

    assert re.search(r'id="total">5.00 USD<', html)
    assert 'href="?period=2026-11"' in html  # the next month, which has begun
    assert 'href="?period=2026-09"' in html


@pytest.mark.parametrize("period", ["2026-13", "abc", "0001-01", "9999-12", "2026-12"])
def test_a_bad_or_future_month_is_a_bad_request(client, member, period):
    answer = client.get(f"/invoices/spend/?period={period}")

    assert answer.status_code == 400
    assert 'role="alert"' in answer.content.decode()


def test_a_month_without_spend_says_so(client, member):
    html = client.get("/invoices/spend/?period=2026-09").content.decode()

    assert re.search(r'id="total">0.00 USD<', html)
    assert "Nothing spent this month." in html and "<svg" not in html


def test_the_page_reads_a_fixed_number_of_queries(client, member, django_assert_max_num_queries):
    with django_assert_max_num_queries(9):
        client.get("/invoices/spend/?period=2026-11")
