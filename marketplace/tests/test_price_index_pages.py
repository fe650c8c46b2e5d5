"""The price index page (/prices/), its CSV (/prices/index.csv) and GET /api/v1/prices/index/,
on the hand-worked history of price_index_fixtures.py (figures: test_price_index.py)."""

from __future__ import annotations

import csv
import io

import pytest
import time_machine

from marketplace.tests.price_index_fixtures import NOW, build_history

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("history")]

ON_DEMAND_EU_7 = "gpu=H100&pricing=on_demand&continent=EU&days=7"


@pytest.fixture
def history():
    with time_machine.travel(NOW, tick=False):
        build_history()
        yield


def test_the_page_shows_the_chart_and_each_days_numbers(client):
    response = client.get(f"/prices/?{ON_DEMAND_EU_7}")

    assert response.status_code == 200
    html = response.content.decode()
    assert "H100, On demand, Europe: USD per GPU-hour, last 7 days" in html
    assert '<svg class="chart price-chart"' in html
    assert html.count('<path class="line"') == 3  # P90, median, P10
    table = html.split('<table id="price-index">', 1)[1].split("</table>", 1)[0]
    rows = [row.split("</tr>")[0] for row in table.split("<tbody>")[1].split("<tr>")[1:]]
    assert len(rows) == 7
    # newest first: Dec 6 (A 2, E 2.5, B 3), then Nov 30 last (A 2, B 4)
    assert '<time datetime="2026-12-06">' in rows[0]
    assert [_cells(rows[0]), _cells(rows[-1])] == [
        ["2.10", "2.50", "2.90", "3", "3"],
        ["2.20", "3.00", "3.80", "2", "2"],
    ]
    assert (
        'href="/prices/index.csv?gpu=H100&amp;pricing=on_demand&amp;continent=EU&amp;days=7"'
        in html
    )


def _cells(row: str) -> list[str]:
    return [cell.split(">", 1)[1].split("<", 1)[0] for cell in row.split("<td")[1:]]


def test_the_page_keeps_the_form_choices(client):
    html = client.get(f"/prices/?{ON_DEMAND_EU_7}").content.decode()

    assert '<option value="H100" selected>' in html
    assert '<option value="on_demand" selected>' in html
    assert '<option value="EU" selected>' in html
    assert '<option value="7" selected>' in html


def test_the_page_opens_on_h100_everywhere_over_30_days(client):
    html = client.get("/prices/").content.decode()

    assert "H100: USD per GPU-hour, last 30 days" in html
    assert html.count("<time datetime=") == 30


def test_a_model_without_offers_says_so(client):
    response = client.get("/prices/?gpu=MI300X&days=7")

    assert response.status_code == 200
    assert "No MI300X offer was listed in these 7 days" in response.content.decode()


@pytest.mark.parametrize(
    "query",
    [
        "gpu=H1000",
        "gpu=%00",
        "pricing=cheap",
        "continent=Mars",
        "days=8",
        "days=1e9",
        "gpu=" + "x" * 3000,
    ],
)
def test_bad_choices_get_the_page_with_the_error_not_a_server_error(client, query):
    response = client.get(f"/prices/?{query}")

    assert response.status_code == 400
    assert 'id="price-index-error"' in response.content.decode()
    assert client.get(f"/prices/index.csv?{query}").status_code == 400


def test_the_csv_has_the_same_rows_oldest_first(client):
    response = client.get(f"/prices/index.csv?{ON_DEMAND_EU_7}")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "price-index-H100-on_demand-EU-7d.csv" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["day", "p10", "median", "p90", "offers", "providers", "currency"]
    assert rows[1] == ["2026-11-30", "2.20", "3.00", "3.80", "2", "2", "USD"]
    assert rows[3] == ["2026-12-02", "2.10", "2.50", "2.90", "2", "2", "USD"]
    assert rows[7] == ["2026-12-06", "2.10", "2.50", "2.90", "3", "3", "USD"]
    assert len(rows) == 8


def test_the_csv_leaves_days_without_offers_empty(client):
    rows = list(
        csv.reader(io.StringIO(client.get("/prices/index.csv?gpu=T4&days=7").content.decode()))
    )

    assert rows[1] == ["2026-11-30", "", "", "", "0", "0", "USD"]


def test_the_api_answers_the_same_figures(api_client):
    response = api_client.get(f"/api/v1/prices/index/?{ON_DEMAND_EU_7}")

    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("gpu", "pricing", "continent", "days", "currency")} == {
        "gpu": "H100", "pricing": "on_demand", "continent": "EU", "days": 7, "currency": "USD",
    }  # fmt: skip
    assert body["rows"][0] == {
        "day": "2026-11-30", "p10": "2.20", "median": "3.00", "p90": "3.80", "offers": 2,
        "providers": 2,
    }  # fmt: skip
    assert body["rows"][-1] == {
        "day": "2026-12-06", "p10": "2.10", "median": "2.50", "p90": "2.90", "offers": 3,
        "providers": 3,
    }  # fmt: skip


def test_the_api_gives_null_prices_for_a_day_without_offers(api_client):
    body = api_client.get("/api/v1/prices/index/?gpu=T4&days=7").json()

    assert body["rows"][0] == {
        "day": "2026-11-30", "p10": None, "median": None, "p90": None, "offers": 0, "providers": 0,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("gpu=H1000", "unknown_gpu"),
        ("gpu=%00%ff", "unknown_gpu"),
        ("gpu=" + "x" * 3000, "unknown_gpu"),
        ("pricing=cheap", "invalid_pricing"),
        ("continent=Mars", "invalid_continent"),
        ("days=0", "invalid_window"),
        ("days=NaN", "invalid_window"),
    ],
)
def test_the_api_refuses_bad_input_with_a_code(api_client, query, code):
    response = api_client.get(f"/api/v1/prices/index/?{query}")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]


def test_the_api_suggests_a_gpu_name(api_client):
    error = api_client.get("/api/v1/prices/index/?gpu=H10").json()["error"]

    assert error["suggestion"] == "H100"
    assert "Did you mean H100?" in error["message"]
