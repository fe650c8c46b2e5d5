"""Unchanged inputs are skipped; withdrawal is scoped by the source's own inputs (feeds)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine

from brokers import registry
from brokers.models import PriceSync
from brokers.services import batch_writer, feeds, sync
from brokers.services.sync import offers_upkeep, refresh_source
from brokers.sources import skypilot
from brokers.sources._common import file_fingerprint
from brokers.tests.provider_server import provider_server_fixture  # noqa: F401
from brokers.tests.test_source_azure import serve_pages
from marketplace.models import Offer, OfferStatus, PriceFeed, Provider
from marketplace.services.provider_offers import provider_offers_put
from tests.factories import OfferFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SKYPILOT_FRESHNESS = timedelta(hours=24)
HEADER = "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Price,SpotPrice,Region\n"


def write_cloud(folder: Path, cloud: str, prices: list[str]) -> Path:
    """`<folder>/<cloud>/vms.csv` with one H100 offer per price (sku gpu-<n>)."""
    (folder / cloud).mkdir(parents=True, exist_ok=True)
    lines = [f"gpu-{n},H100,1,26,225,{price},,us-east-1\n" for n, price in enumerate(prices)]
    path = folder / cloud / "vms.csv"
    path.write_text(HEADER + "".join(lines))
    return path


@pytest.fixture
def catalog(tmp_path) -> Path:
    folder = tmp_path / "catalog"
    write_cloud(folder, "alpha", ["2.10", "2.20", "2.30"])
    write_cloud(folder, "beta", ["2.40", "2.50"])
    return folder


@pytest.fixture
def files_read(monkeypatch) -> list[str]:
    """The cloud files the SkyPilot source parses."""
    read: list[str] = []
    original = skypilot.read_vms_csv

    def spy(cloud, file, **kwargs):
        read.append(cloud)
        return original(cloud, file, **kwargs)

    monkeypatch.setattr(skypilot, "read_vms_csv", spy)
    return read


def refresh(folder: Path, **kwargs) -> PriceSync:
    return refresh_source(source_name="skypilot-catalog", path=str(folder), **kwargs)


def offers_of(slug: str) -> dict[str, tuple[str, datetime]]:
    rows = Offer.objects.filter(provider__slug=slug).values_list("sku", "status", "observed_at")
    return {sku: (status, observed) for sku, status, observed in rows}


def inputs(run: PriceSync) -> dict[str, str]:
    return {record["name"]: record["status"] for record in run.inputs}


# --- unchanged inputs are skipped ----------------------------------------------------------


def test_an_unchanged_folder_is_not_parsed_and_its_offers_are_seen_again(catalog, files_read):
    # given a loaded catalog whose offers went stale
    with time_machine.travel(T0, tick=False):
        first = refresh(catalog)
    with time_machine.travel(T0 + 2 * SKYPILOT_FRESHNESS, tick=False):
        offers_upkeep()
        assert {s for s, _ in offers_of("alpha").values()} == {OfferStatus.STALE}
        files_read.clear()
        # when the same folder is refreshed again
        again = refresh(catalog)
    # then nothing was parsed, and every offer is active and seen now
    assert files_read == []
    assert inputs(again) == {"alpha/vms.csv": "unchanged", "beta/vms.csv": "unchanged"}
    assert (again.created, again.updated, again.unchanged, again.withdrawn) == (0, 5, 0, 0)
    assert (again.rows_read, again.status) == (first.rows_read, "succeeded") == (5, "succeeded")
    for slug in ("alpha", "beta"):
        assert set(offers_of(slug).values()) == {(OfferStatus.ACTIVE, T0 + 2 * SKYPILOT_FRESHNESS)}


def test_a_second_unchanged_run_counts_its_offers_unchanged(catalog, files_read):
    refresh(catalog)
    refresh(catalog)  # skips, touching
    files_read.clear()

    third = refresh(catalog)  # skips again: the touched offers are that input's offers

    assert files_read == []
    assert (third.created, third.updated, third.unchanged, third.withdrawn) == (0, 0, 5, 0)
    record = next(r for r in third.inputs if r["name"] == "alpha/vms.csv")
    assert (record["offers"], record["touched"], record["read_in"]) == (3, 3, third.pk - 2)


def test_only_the_changed_file_is_parsed(catalog, files_read):
    refresh(catalog)
    write_cloud(catalog, "beta", ["2.40", "2.99"])
    files_read.clear()

    again = refresh(catalog)

    assert files_read == ["beta"]
    assert inputs(again) == {"alpha/vms.csv": "unchanged", "beta/vms.csv": "read"}
    assert (again.created, again.updated, again.unchanged) == (0, 1, 4)
    assert str(Offer.objects.get(provider__slug="beta", sku="gpu-1").price_per_hour) == "2.990000"


def test_an_offer_dropped_from_a_changed_file_is_withdrawn(catalog):
    refresh(catalog)
    write_cloud(catalog, "alpha", ["2.10", "2.20"])  # gpu-2 is gone

    again = refresh(catalog)

    assert again.withdrawn == 1
    assert offers_of("alpha")["gpu-2"][0] == OfferStatus.WITHDRAWN


def test_a_file_removed_from_a_complete_folder_has_its_offers_withdrawn(catalog, files_read):
    refresh(catalog)
    (catalog / "beta" / "vms.csv").unlink()
    files_read.clear()

    again = refresh(catalog)

    assert files_read == []  # alpha is unchanged
    assert again.withdrawn == 2
    assert {s for s, _ in offers_of("beta").values()} == {OfferStatus.WITHDRAWN}
    assert {s for s, _ in offers_of("alpha").values()} == {OfferStatus.ACTIVE}


def test_a_run_of_one_file_leaves_the_other_files_offers_alone(catalog):
    refresh(catalog)

    one = refresh(catalog / "alpha" / "vms.csv")

    assert (one.unchanged, one.withdrawn) == (3, 0)
    assert {s for s, _ in offers_of("beta").values()} == {OfferStatus.ACTIVE}


def test_a_failed_sync_is_never_the_reference(catalog, tmp_path, files_read):
    # given a good run, then beta changes, then a failed run that (say) recorded beta as it
    # is now
    refresh(catalog)
    beta = write_cloud(catalog, "beta", ["2.40", "2.77"])
    failed = refresh(tmp_path / "missing")
    assert failed.status == "failed"
    fingerprint = file_fingerprint(beta)
    failed.inputs = [{"name": "beta/vms.csv", "fingerprint": fingerprint, "status": "read",
                      "reader": feeds.reader_version(), "offers": 2}]  # fmt: skip
    failed.save()
    files_read.clear()
    # when
    refresh(catalog)
    # then the good run is the reference: beta changed since it, so beta is read
    assert files_read == ["beta"]
    assert str(Offer.objects.get(provider__slug="beta", sku="gpu-1").price_per_hour) == "2.770000"


def test_a_run_that_crashed_while_writing_is_never_trusted(catalog, monkeypatch, files_read):
    # given a run whose writer failed: its inputs are recorded as failed
    def broken(*, prepared, observed_at):
        raise RuntimeError("connection lost")

    with monkeypatch.context() as patch:
        patch.setattr(batch_writer, "offer_upsert_prepared", broken)
        crashed = refresh(catalog)
    assert crashed.status == "failed"
    assert {r["status"] for r in crashed.inputs} == {"failed"}
    files_read.clear()
    # when
    refresh(catalog)
    # then everything is read
    assert sorted(files_read) == ["alpha", "beta"]


def test_full_reads_unchanged_inputs(catalog, files_read):
    refresh(catalog)
    files_read.clear()

    again = refresh(catalog, full=True)

    assert sorted(files_read) == ["alpha", "beta"]
    assert (again.unchanged, again.full) == (5, True)
    assert set(inputs(again).values()) == {"read"}


def test_a_new_reading_of_the_inputs_reads_them_again(catalog, files_read, monkeypatch):
    refresh(catalog)
    files_read.clear()
    monkeypatch.setattr(feeds, "_reader_code_digest", lambda: "a parser fix")

    refresh(catalog)

    assert sorted(files_read) == ["alpha", "beta"]


def test_row_errors_of_an_unchanged_file_are_carried(catalog, files_read):
    (catalog / "beta" / "vms.csv").write_text(HEADER + "gpu-0,H100,1,26,225,abc,,us-east-1\n"
                                              "gpu-1,H100,1,26,225,2.5,,us-east-1\n")  # fmt: skip
    first = refresh(catalog)
    files_read.clear()

    again = refresh(catalog)

    assert files_read == []
    assert (first.status, again.status) == ("partial", "partial")
    assert again.errors == [
        {"where": "beta/vms.csv", "reason": f"1 row errors, unchanged since sync {first.pk} "
                                            "(listed there)"}
    ]  # fmt: skip


def test_an_unchanged_remote_file_is_not_downloaded_again(provider_server, files_read):
    # raw.githubusercontent.com sends an ETag and answers If-None-Match with 304
    body = HEADER + "gpu-0,H100,1,26,225,2.10,,us-east-1\n"
    provider_server.expect_request(
        "/v8/alpha/vms.csv", headers={"If-None-Match": '"v1"'}
    ).respond_with_data("", status=304)
    provider_server.expect_request("/v8/alpha/vms.csv").respond_with_data(
        body, headers={"ETag": '"v1"'}
    )
    source = skypilot.SkypilotCatalogSource(clouds=["alpha"])
    url = provider_server.url_for("/v8")
    monkey_source(source)

    first = refresh_source(source_name="skypilot-catalog", path=url)
    again = refresh_source(source_name="skypilot-catalog", path=url)

    assert files_read == ["alpha"]
    assert first.inputs[0]["fingerprint"] == 'etag:"v1"'
    assert (inputs(again), again.unchanged) == ({"alpha/vms.csv": "unchanged"}, 1)
    sent = [request.headers.get("If-None-Match") for request, _ in provider_server.log]
    assert sent == [None, '"v1"']


def monkey_source(source) -> None:
    sync_get = registry.get_source
    sync.get_source = lambda name: source if name == "skypilot-catalog" else sync_get(name)


@pytest.fixture(autouse=True)
def restore_get_source():
    yield
    sync.get_source = registry.get_source


# --- withdrawal is scoped by the source's inputs -------------------------------------------


def test_two_sources_feeding_one_provider_do_not_withdraw_each_others_offers(tmp_path):
    # given the SkyPilot catalog and the simulated source both list offers for "simcloud"
    folder = tmp_path / "catalog"
    write_cloud(folder, "simcloud", ["2.10", "2.20"])
    refresh(folder)
    refresh_source(source_name="simulated")
    # when each runs again (complete runs, each without the other's offers)
    refresh(folder, full=True)
    simulated = refresh_source(source_name="simulated", full=True)
    # then nothing was withdrawn
    assert simulated.withdrawn == 0
    assert set(Offer.objects.values_list("status", flat=True)) == {OfferStatus.ACTIVE}
    assert Offer.objects.filter(provider__slug="simcloud").count() == 2 + 15


def test_offers_without_a_feed_keep_the_provider_rule(catalog):
    # given an offer written before feeds existed, for a provider the catalog lists
    old = OfferFactory(provider=Provider.objects.create(name="Alpha", slug="alpha"), sku="old")
    assert old.feed_id is None
    # when
    run = refresh(catalog)
    # then
    assert run.withdrawn == 1
    assert Offer.objects.get(pk=old.pk).status == OfferStatus.WITHDRAWN


def test_a_providers_complete_list_leaves_a_sources_offers_alone(catalog):
    refresh(catalog)
    alpha = Provider.objects.get(slug="alpha")

    counts = provider_offers_put(provider=alpha, items=[], complete=True)

    assert counts.withdrawn == 0
    assert {s for s, _ in offers_of("alpha").values()} == {OfferStatus.ACTIVE}


def test_offers_remember_their_feed(catalog):
    refresh(catalog)

    feeds_by_sku = dict(
        Offer.objects.filter(provider__slug="beta").values_list("sku", "feed__name")
    )

    assert feeds_by_sku == {"gpu-0": "beta/vms.csv", "gpu-1": "beta/vms.csv"}
    assert PriceFeed.objects.filter(source="skypilot-catalog").count() == 2


SAMPLES = Path(__file__).parent / "samples"


@pytest.mark.parametrize(
    ("source", "path", "names"),
    [
        ("vast", "vast/bundles.json", ["bundles"]),
        ("lambda", "lambda/instance-types.json", ["instance-types"]),
        ("runpod", "runpod/gpu-types.json", ["gpuTypes"]),
        ("azure", "azure", ["retail prices"]),
        ("aws", "aws", ["price list and spot history"]),
        ("gpuhunt-catalog", "gpuhunt/lambdalabs.csv", ["lambdalabs.csv"]),
    ],
)
def test_every_source_skips_an_unchanged_input(source, path, names):
    first = refresh_source(source_name=source, path=str(SAMPLES / path))

    again = refresh_source(source_name=source, path=str(SAMPLES / path))

    assert [r["name"] for r in first.inputs] == names
    assert set(inputs(again).values()) == {"unchanged"}
    stored = first.created + first.updated + first.unchanged
    assert stored > 0
    assert (again.created, again.updated + again.unchanged, again.withdrawn) == (0, stored, 0)
    assert (again.rows_read, again.status) == (first.rows_read, first.status)


def test_a_remote_json_source_is_hashed_and_skipped(provider_server, settings):
    body = (SAMPLES / "vast" / "bundles.json").read_bytes()
    provider_server.expect_request("/api/v0/bundles/").respond_with_data(body)
    settings.VAST_API_URL = provider_server.url_for("/api/v0")

    first = refresh_source(source_name="vast")
    again = refresh_source(source_name="vast")

    assert first.inputs[0]["fingerprint"] == f"sha256:{hashlib.sha256(body).hexdigest()}"
    assert (inputs(again), again.unchanged + again.updated) == (
        {"bundles": "unchanged"},
        first.created,
    )


def test_the_azure_api_is_hashed_and_skipped_when_no_price_changed(provider_server, settings):
    serve_pages(provider_server)
    settings.AZURE_PRICES_URL = provider_server.url_for("/api/retail/prices")
    first = refresh_source(source_name="azure")
    again = refresh_source(source_name="azure")

    assert first.inputs[0]["fingerprint"].startswith("sha256:")
    assert (inputs(again), again.unchanged + again.updated) == (
        {"retail prices": "unchanged"},
        first.created,
    )
