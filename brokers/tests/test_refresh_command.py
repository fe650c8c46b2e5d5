"""python manage.py refresh_prices: summary table, failing sources, unknown labels in the admin."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from brokers.models import PriceSync
from brokers.schedule import ScheduleEntry
from brokers.tests.provider_server import provider_server_fixture  # noqa: F401
from marketplace.models import Offer, OfferStatus

pytestmark = pytest.mark.django_db

SHARED_CATALOG = Path(__file__).resolve().parents[2] / ".." / "shared/data/skypilot-catalog-v8"
VAST_SAMPLE = Path(__file__).resolve().parent / "samples" / "vast" / "bundles.json"


def run(*args) -> str:
    out = io.StringIO()
    call_command("refresh_prices", *args, stdout=out)
    return out.getvalue()


def table(output: str) -> list[list[str]]:
    return [line.split() for line in output.splitlines() if not line.startswith("  ")]


@pytest.mark.skipif(not SHARED_CATALOG.is_dir(), reason="shared SkyPilot catalog not present")
def test_it_loads_the_shared_catalog_and_prints_a_summary_table():
    # when
    first = run("--source", "skypilot-catalog", "--path", str(SHARED_CATALOG))
    again = run("--source", "skypilot-catalog", "--path", str(SHARED_CATALOG))
    # then
    header, row = table(first)
    assert header[:11] == [
        "source", "status", "rows_read", "rows_skipped", "created", "updated", "unchanged",
        "withdrawn", "stale", "suspect_flagged", "suspect_cleared",
    ]  # fmt: skip
    assert row[:11] == [
        "skypilot-catalog",
        "succeeded",
        "1120",
        "89",
        "1031",
        "0",
        "0",
        "0",
        "0",
        "8",
        "0",
    ]  # fmt: skip (mithril's 8 rows)
    assert row[11:13] == ["0", "0"]  # unknown labels, errors
    assert row[13:15] == ["13", "0"]  # inputs read, unchanged
    # the second run reads nothing: every file is unchanged, its offers are seen again
    assert table(again)[1][:15] == ["skypilot-catalog", "succeeded", "1120", "89", "0", "0",
                                    "1031", "0", "0", "0", "0", "0", "0", "0", "13"]  # fmt: skip
    assert Offer.objects.count() == 1031


@pytest.mark.skipif(not SHARED_CATALOG.is_dir(), reason="shared SkyPilot catalog not present")
def test_full_reads_every_input_again():
    run("--source", "skypilot-catalog", "--path", str(SHARED_CATALOG))

    again = run("--source", "skypilot-catalog", "--path", str(SHARED_CATALOG), "--full")

    assert table(again)[1][4:7] == ["0", "0", "1031"]  # created, updated, unchanged
    assert table(again)[1][13:15] == ["13", "0"]
    assert PriceSync.objects.order_by("started_at").last().full is True


def test_one_failing_source_fails_the_command_but_not_the_other_sources(provider_server, settings):
    # given vast offers loaded earlier, and the vast API answering 500 now
    run("--source", "vast", "--path", str(VAST_SAMPLE))
    vast_offers = set(Offer.objects.values_list("pk", flat=True))
    provider_server.expect_request("/api/v0/bundles/").respond_with_data(
        "upstream broke", status=500
    )
    settings.VAST_API_URL = provider_server.url_for("/api/v0")
    settings.PRICING_SCHEDULE = [
        ScheduleEntry("vast", 300, ""),
        ScheduleEntry("simulated", 300, ""),
    ]
    out = io.StringIO()
    # when both scheduled sources run
    with pytest.raises(CommandError, match="at least one source failed"):
        call_command("refresh_prices", stdout=out)
    # then the vast run failed with the reason, lost nothing, and simulated still ran
    vast, simulated = PriceSync.objects.order_by("started_at")[1:]
    assert (vast.source, vast.status, vast.withdrawn) == ("vast", "failed", 0)
    assert "HTTP 500" in vast.errors[0]["reason"] and "upstream broke" in vast.errors[0]["reason"]
    assert len(provider_server.log) == 1  # 500 is not one of the retried statuses
    assert (simulated.source, simulated.status, simulated.created) == ("simulated", "succeeded", 15)
    assert set(Offer.objects.filter(pk__in=vast_offers).values_list("status", flat=True)) == {
        OfferStatus.ACTIVE
    }
    assert [r[:2] for r in table(out.getvalue())[1:]] == [
        ["vast", "failed"],
        ["simulated", "succeeded"],
    ]
    assert "  error in vast: http://127.0.0.1:" in out.getvalue()


def test_it_refuses_an_unknown_source_before_running_anything():
    with pytest.raises(CommandError, match="unknown pricing source 'nope'"):
        run("--source", "nope")
    assert PriceSync.objects.count() == 0


def test_unknown_labels_are_printed_recorded_and_shown_in_the_admin(tmp_path, admin_client):
    # given a catalog with a GPU no one knows
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps([
        {"sku": "ok", "gpu": "H100", "gpu_count": 8, "price_per_hour": "23.92"},
        {"sku": "q1", "gpu": "Quantum Flux 9000", "gpu_count": 1, "price_per_hour": "1"},
        {"sku": "q2", "gpu": "Quantum Flux 9000", "gpu_count": 2, "price_per_hour": "2"},
    ]))  # fmt: skip
    # when
    output = run("--source", "simulated", "--path", str(path))
    # then
    sync = PriceSync.objects.get()
    assert sync.unknown_labels == {"Quantum Flux 9000": 2}
    assert "  unknown GPU label in simulated: 'Quantum Flux 9000' (2 rows)" in output
    listing = admin_client.get("/admin/brokers/pricesync/")
    page = admin_client.get(f"/admin/brokers/pricesync/{sync.pk}/change/")
    assert listing.status_code == page.status_code == 200
    assert "Quantum Flux 9000: 2" in page.content.decode()
    assert "Unknown GPU labels (label: rows)" in page.content.decode()


def test_it_shows_progress_on_a_terminal(monkeypatch, capsys):
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)

    call_command("refresh_prices", "--source", "simulated", stdout=io.StringIO())

    progress = capsys.readouterr().err
    assert progress.startswith("\rsimulated: 15 rows read (") and progress.endswith(" rows/s)\n")


def test_it_keeps_quiet_on_stderr_when_not_a_terminal(monkeypatch, capsys):
    monkeypatch.setattr("sys.stderr.isatty", lambda: False)

    call_command("refresh_prices", "--source", "simulated", stdout=io.StringIO())

    assert capsys.readouterr().err == ""
