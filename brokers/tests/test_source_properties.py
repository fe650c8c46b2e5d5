"""Properties of the pricing sources' readers, over real rows and items with their cells
replaced by arbitrary text or JSON, columns dropped or reordered, lines cut.

The issue they serve: "A malformed CSV line, a missing column, a non-numeric price, an HTTP
500 or a timeout from a provider: that row or that source is reported on the sync record
with the reason, nothing already stored is lost, and the other sources go on." An exception
that escapes a reader ends its input early (`brokers.services.sync._guarded`): the rows after
it are lost and the run is partial. So, whatever it is fed, a reader
- raises nothing: a bad row is a `RowError` with a reason, a bad input a source failure
  (`where` starting with "source", see `_common.source_failure`);
- accounts for every row: each CSV row gives offers or one RowError, in file order; a JSON
  source keeps the offers of the items nobody touched;
- yields offers the pipeline can take: prices finite Decimals >= 0, counts whole, texts
  text, `extra` storable as jsonb.
And the normaliser, given any such offer, returns something storable or says why not.

Readers are driven through `fetch(path=...)` on files in a scratch folder, as the existing
`test_source_*` tests do; no database.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import re
import time
import zipfile
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brokers.services import normalise
from brokers.services.normalise import Normaliser, RowProblem
from brokers.sources._common import MAX_MAGNITUDE
from brokers.sources.aws import AwsPricingSource
from brokers.sources.azure import AzureRetailPricesSource
from brokers.sources.base import OfferRow, PricingModel, RowError
from brokers.sources.gpuhunt import GpuhuntCatalogSource
from brokers.sources.lambda_cloud import LambdaCloudSource
from brokers.sources.runpod import RunpodSource
from brokers.sources.skypilot import SkypilotCatalogSource
from brokers.sources.vast import VastSource
from marketplace.models import Offer, Provider
from marketplace.services.offer_inputs import OfferInput
from marketplace.services.offer_writer import offer_batch_prepare

# `parse_gpu_info` hands GpuInfo texts to ast.parse, which warns about odd literals in them
pytestmark = [
    pytest.mark.filterwarnings("ignore::SyntaxWarning"),
    pytest.mark.filterwarnings("ignore:invalid escape sequence:DeprecationWarning"),
]
SAMPLES = Path(__file__).resolve().parent / "samples"
PROPERTY_SETTINGS = settings(
    max_examples=200,
    deadline=None,  # files are written per example: timing is noise, not a property
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PRICING_MODELS = {PricingModel.ON_DEMAND, PricingModel.SPOT, PricingModel.RESERVED}
SIX_PLACES = Decimal("0.000001")
PROVIDER_SLUG_MAX = Provider._meta.get_field("slug").max_length


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    """One folder for the whole module: each example overwrites its files."""
    return tmp_path_factory.mktemp("source-properties")


# -- what every reader's output must look like ------------------------------------------------


def well_formed(items) -> tuple[list[OfferRow], list[RowError]]:
    """Split a reader's output, failing on anything the sync could not take as it is."""
    offers, errors = [], []
    for item in items:
        if type(item) is RowError:
            assert isinstance(item.where, str) and item.where, item
            assert isinstance(item.reason, str) and item.reason.strip(), item
            errors.append(item)
        else:
            assert type(item) is OfferRow, item
            assert_offer_well_formed(item)
            offers.append(item)
    return offers, errors


def assert_offer_well_formed(offer: OfferRow) -> None:
    price = offer.price_per_hour
    assert type(price) is Decimal and price.is_finite() and price >= 0, offer
    for name in ("sku", "gpu_label", "currency", "region", "zone", "interconnect"):
        assert isinstance(getattr(offer, name), str), (name, offer)
    assert isinstance(offer.provider, str) and offer.provider, offer
    # `ProviderCache` creates a provider of this slug: it must fit the column
    assert len(offer.provider) <= PROVIDER_SLUG_MAX and "\x00" not in offer.provider, offer
    assert offer.pricing in PRICING_MODELS, offer
    assert type(offer.gpu_count) is int and offer.gpu_count >= 0, offer
    for name in ("gpu_memory_mib", "available"):
        assert getattr(offer, name) is None or type(getattr(offer, name)) is int, (name, offer)
    if offer.gpu_memory_mib is not None:
        float(offer.gpu_memory_mib)  # `resolve` compares sizes as floats: one must hold it
    for name in ("vcpus", "memory_gb", "disk_gb", "reliability"):
        value = getattr(offer, name)
        assert value is None or (type(value) is Decimal and value.is_finite()), (name, offer)
    assert isinstance(offer.extra, dict), offer
    # `_extra_json` writes it with default=str; jsonb refuses NaN and Infinity
    json.dumps(offer.extra, default=str, allow_nan=False)


def rate(text: str) -> Decimal | None:
    """What a price cell means, worked out independently of the readers: a finite number
    to 6 places (rates keep 6), or None."""
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        return None
    if not number.is_finite() or number.copy_abs() >= MAX_MAGNITUDE:  # the documented range
        return None
    return number.quantize(SIX_PLACES, rounding=ROUND_HALF_UP)


# -- arbitrary cells ----------------------------------------------------------------------------

# Texts a provider's file has held, or could: numbers in every spelling, numbers too big for
# a float or a Decimal context, quotes, line breaks, and GpuInfo shapes that parse to absurd
# values.
AWKWARD_TEXTS = (
    "", " ", "0", "0.0", "-0", "-1", "-0.01", "1.5", "80", "80.0", "8.5",
    "nan", "NaN", "-nan", "inf", "-inf", "Infinity", "sNaN", "1e30", "-1e30", "1e-30",
    "1e400", "1e999999", "1e-999999", "9" * 40, "9" * 40 + ".25", "0." + "0" * 30 + "1",
    "1,000", "$2.50", "2.50 USD", "0x1F", "1_000", "٣", "²", "True", "False", "None", "null",
    "[]", "{}", '"', "'", '""', "\n", "\r\n", "a\rb", "\ufeff", "\u2028", "é", "NA", "n/a",
    "tpu-v6e-8", "tpu-v5p-" + "9" * 5000, "H100", "A100-80GB", "H100 (80 GB SXM5)",
    '{"Gpus": [{"MemoryInfo": {"SizeInMiB": 1e999}}]}',
    '{"Gpus": [{"MemoryInfo": {"SizeInMiB": NaN}}], "TotalGpuMemoryInMiB": Infinity}',
    "{'Gpus': [{'MemoryInfo': {'SizeInMiB': 1e999}}]}",
    "{'TotalGpuMemoryInMiB': " + "9" * 400 + "}",
    "{'Gpus': [{'Name': 'H100', 'MemoryInfo': {'SizeInMiB': 0.000001}}]}",
    "{'Gpus': [{'Name': None, 'MemoryInfo': []}], 'TotalGpuMemoryInMiB': -5}",
    "[" * 3000, "{'a': " * 400, "(" * 300,
    "[1e999]", '{"a": NaN}', '{"a": [1, {"b": -Infinity}]}',
    "p4d.24xlarge", "g5.xlarge", "1 x 250 NVMe SSD", "1 x . SSD", "99 x 9e99999 SSD",
    "1152 GiB", "1.2.3 GiB", "OnDemand", "Linux", "Shared", "Used", "Hrs",
)  # fmt: skip
cells = st.one_of(
    st.sampled_from(AWKWARD_TEXTS),
    st.text(max_size=12),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.floats().map(repr),
    st.integers().map(str),
)


@dataclass(frozen=True)
class RowEdit:
    """How one written row differs from the real row it started as."""

    base: int  # which real row
    cells: dict[str, str]  # column -> the text written instead
    cut: int | None  # keep only this many fields (>= 1)
    surplus: tuple[str, ...]  # fields added at the end


def row_edits(columns: tuple[str, ...], base_rows: int, editable: tuple[str, ...]):
    # cut or surplus, not both: a row cut short then padded back to the header's length
    # would be a different row with fields in the wrong columns
    untouched, cut = st.just((None, ())), st.tuples(st.integers(1, len(columns)), st.just(()))
    surplus = st.tuples(st.none(), st.lists(cells, min_size=1, max_size=2).map(tuple))
    return st.builds(
        lambda base, edited, shape: RowEdit(base, edited, *shape),
        base=st.integers(0, base_rows - 1),
        edited=st.dictionaries(st.sampled_from(editable), cells, max_size=3),
        shape=st.one_of(untouched, untouched, cut, surplus),
    )


def layouts(columns: tuple[str, ...], required: tuple[str, ...]):
    """A header: the columns shuffled, a few dropped (a required one now and then)."""
    droppable = st.sampled_from([c for c in columns if c not in required])
    rarely_required = st.sampled_from(required)
    dropped = st.sets(droppable, max_size=3) | st.sets(rarely_required, max_size=1)
    return st.tuples(st.permutations(columns), dropped).map(
        lambda drawn: tuple(c for c in drawn[0] if c not in drawn[1])
    )


def written_fields(header: tuple[str, ...], base: dict[str, str], edit: RowEdit) -> list[str]:
    fields_ = [edit.cells.get(column, base.get(column, "")) for column in header]
    if edit.cut is not None:
        fields_ = fields_[: edit.cut]
    return fields_ + list(edit.surplus)


def csv_text(lines: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(lines)
    return buffer.getvalue()


# -- SkyPilot vms.csv ---------------------------------------------------------------------------

SKYPILOT_COLUMNS = (
    "InstanceType", "AcceleratorName", "AcceleratorCount", "vCPUs", "MemoryGiB", "StorageGiB",
    "GpuInfo", "Price", "SpotPrice", "Region", "AvailabilityZone", "Arch",
)  # fmt: skip
SKYPILOT_REQUIRED = ("InstanceType", "AcceleratorName", "AcceleratorCount", "Price", "Region")
ROW_ID = "UpstreamCloudId"  # passed through to extra: says which row an offer came from
# Rows of the real catalog (../shared/data/skypilot-catalog-v8: hyperstack, lambda, vast, aws).
SKYPILOT_ROWS = (
    {"InstanceType": "n3-A100x1", "AcceleratorName": "A100-80G-PCIe", "AcceleratorCount": "1",
     "vCPUs": "28", "MemoryGiB": "120.0", "Price": "1.35", "Region": "CANADA-1",
     "GpuInfo": "{'Gpus': [{'Name': 'A100-80G-PCIe', 'Manufacturer': null, 'Count': 1, "
                "'MemoryInfo': {'SizeInMiB': 81920}}], 'TotalGpuMemoryInMiB': 81920}"},
    {"InstanceType": "gpu_1x_h100_pcie", "AcceleratorName": "H100", "AcceleratorCount": "1.0",
     "vCPUs": "26.0", "MemoryGiB": "200.0", "Price": "3.29", "Region": "europe-central-1",
     "GpuInfo": "{'Gpus': [{'Name': 'H100', 'Manufacturer': 'NVIDIA', 'Count': 1.0, "
                "'MemoryInfo': {'SizeInMiB': 81920}}], 'TotalGpuMemoryInMiB': 81920}"},
    {"InstanceType": "cpu_4x_generalx", "vCPUs": "4.0", "MemoryGiB": "16.0", "Price": "0.2",
     "Region": "europe-central-1"},
    {"InstanceType": "2x-H200-32-65536", "AcceleratorName": "H200", "AcceleratorCount": "2",
     "vCPUs": "32", "MemoryGiB": "64.0", "Price": "5.18", "SpotPrice": "0.00",
     "Region": "Michigan, US, NA",
     "GpuInfo": "{'Gpus': [{'Name': 'H200', 'Count': 2, 'MemoryInfo': {'SizeInMiB': 287542}}], "
                "'TotalGpuMemoryInMiB': 287542}"},
    {"InstanceType": "p4d.24xlarge", "AcceleratorName": "A100", "AcceleratorCount": "8.0",
     "vCPUs": "96.0", "MemoryGiB": "1152.0", "Price": "30.09784", "SpotPrice": "7.520500",
     "Region": "ap-northeast-1", "AvailabilityZone": "apne1-az4", "Arch": "x86_64"},
)  # fmt: skip
SKYPILOT_CLOUDS = ("hyperstack", "lambda", "vast", "aws", "someday-cloud")  # not gcp: see below


def read_skypilot(scratch: Path, cloud: str, text: str) -> list:
    file = scratch / cloud / "vms.csv"
    file.parent.mkdir(exist_ok=True)
    file.write_text(text, encoding="utf-8")
    return list(SkypilotCatalogSource().fetch(path=str(file)))


def offer_groups(items: list) -> list[list]:
    """Consecutive outcomes of one row: a single RowError, or offers with one row id."""
    groups: list[list] = []
    for item in items:
        same_row = (
            type(item) is OfferRow
            and groups
            and type(groups[-1][0]) is OfferRow
            and groups[-1][0].extra.get(ROW_ID) == item.extra.get(ROW_ID)
        )
        if same_row:
            groups[-1].append(item)
        else:
            groups.append([item])
    return groups


@PROPERTY_SETTINGS
@given(
    cloud=st.sampled_from(SKYPILOT_CLOUDS),
    header=layouts(SKYPILOT_COLUMNS, SKYPILOT_REQUIRED),
    id_at=st.integers(0, len(SKYPILOT_COLUMNS)),
    edits=st.lists(
        row_edits(SKYPILOT_COLUMNS, len(SKYPILOT_ROWS), SKYPILOT_COLUMNS), min_size=1, max_size=6
    ),
)
def test_every_skypilot_row_is_offers_or_one_row_error(scratch, cloud, header, id_at, edits):
    # given
    header = (*header[:id_at], ROW_ID, *header[id_at:])
    rows = [
        written_fields(header, {**SKYPILOT_ROWS[e.base], ROW_ID: f"row-{i}"}, e)
        for i, e in enumerate(edits)
    ]

    # when
    items = read_skypilot(scratch, cloud, csv_text([list(header), *rows]))

    # then
    offers, errors = well_formed(items)
    missing = [c for c in SKYPILOT_REQUIRED if c not in header]
    if missing:
        assert offers == [] and len(errors) == 1, items
        assert errors[0].where == f"source skypilot-catalog: {cloud}/vms.csv"
        assert errors[0].reason == f"missing columns: {', '.join(missing)}"
        return
    groups = offer_groups(items)
    assert len(groups) == len(rows), items
    for index, (group, written) in enumerate(zip(groups, rows, strict=True)):
        if type(group[0]) is RowError:
            assert group[0].where.startswith(f"{cloud}/vms.csv:"), group
            continue
        assert {o.extra[ROW_ID] for o in group} == {f"row-{index}"}
        cell = dict(zip(header, written, strict=True))  # an offer's row has every field
        assert {o.price_per_hour for o in group} <= {
            rate(cell["Price"]),
            rate(cell.get("SpotPrice", "")),
        }
        assert all(o.price_per_hour > 0 for o in group)  # 0 means "no such offer"
        assert len(group) == len({o.pricing for o in group}) <= 2


SKYPILOT_FILES = {
    "gcp": (SAMPLES / "skypilot" / "gcp" / "vms.csv").read_text(encoding="utf-8"),
    "someday-cloud": (SAMPLES / "skypilot" / "acmecloud" / "vms.csv").read_text(encoding="utf-8"),
    "vast": csv_text(
        [list(SKYPILOT_COLUMNS)]
        + [[row.get(c, "") for c in SKYPILOT_COLUMNS] for row in SKYPILOT_ROWS]
    ),
}


@dataclass(frozen=True)
class TextEdit:
    at: float  # where, as a fraction of the text's length
    delete: int  # characters removed there
    insert: str  # text put in their place


text_edits = st.lists(
    st.builds(
        TextEdit,
        at=st.floats(0, 1),
        delete=st.integers(0, 40),
        insert=st.one_of(st.just(""), st.text(max_size=8), st.sampled_from(AWKWARD_TEXTS)),
    ),
    max_size=4,
)


def mangled(text: str, edits: list[TextEdit], cut_at: float | None) -> str:
    for edit in edits:
        at = int(edit.at * len(text))
        text = text[:at] + edit.insert + text[at + edit.delete :]
    return text if cut_at is None else text[: int(cut_at * len(text))]


@PROPERTY_SETTINGS
@given(
    cloud=st.sampled_from(sorted(SKYPILOT_FILES)),
    edits=text_edits,
    cut_at=st.none() | st.floats(0, 1),
)
def test_a_mangled_skypilot_file_gives_rows_and_row_errors_never_an_exception(
    scratch, cloud, edits, cut_at
):
    """GCP's rows are joined at the end of the file (host + accelerator), so rows are not
    counted one by one here: only the shape of what comes out."""
    items = read_skypilot(scratch, cloud, mangled(SKYPILOT_FILES[cloud], edits, cut_at))

    well_formed(items)


# -- gpuhunt: provider CSVs inside catalog.zip --------------------------------------------------

GPUHUNT_COLUMNS = (
    "instance_name", "location", "price", "cpu", "memory", "gpu_count", "gpu_name",
    "gpu_memory", "spot", "disk_size", "gpu_vendor", "flags", "cpu_arch", "provider_data",
)  # fmt: skip
GPUHUNT_REQUIRED = ("instance_name", "location", "price", "gpu_count", "gpu_name", "spot")


def sample_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


GPUHUNT_ROWS = tuple(
    sample_rows(SAMPLES / "gpuhunt" / "lambdalabs.csv")[:4]
    + sample_rows(SAMPLES / "gpuhunt" / "aws.csv")[:2]
    + [{**sample_rows(SAMPLES / "gpuhunt" / "aws.csv")[0], "provider_data": '{"a": [1.5, "x"]}'}]
)
GPUHUNT_MEMBERS = st.one_of(
    st.sampled_from(["lambdalabs", "aws", "vastai", "gcp", "LambdaLabs"]),
    st.from_regex(r"[a-z0-9][a-z0-9_-]{0,70}", fullmatch=True),
    # a zip member's name: no folders, no NUL (zipfile cuts a name there), not macOS litter
    st.text(min_size=1, max_size=70).filter(
        lambda s: not set(s) & {"/", "\\", "\x00"} and not s.startswith("__MACOSX")
    ),
)


def zip_bytes(members: dict[str, str], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, text in members.items():
            archive.writestr(name, text.encode("utf-8"))
    return buffer.getvalue()


def read_gpuhunt_zip(scratch: Path, data: bytes) -> list:
    file = scratch / "catalog.zip"
    file.write_bytes(data)
    return list(GpuhuntCatalogSource().fetch(path=str(file)))


@PROPERTY_SETTINGS
@given(
    member=GPUHUNT_MEMBERS,
    header=layouts(GPUHUNT_COLUMNS, GPUHUNT_REQUIRED),
    edits=st.lists(
        row_edits(GPUHUNT_COLUMNS, len(GPUHUNT_ROWS), GPUHUNT_COLUMNS), min_size=1, max_size=6
    ),
)
def test_every_gpuhunt_row_is_one_offer_or_one_row_error(scratch, member, header, edits):
    # given
    rows = [written_fields(header, GPUHUNT_ROWS[e.base], e) for e in edits]
    data = zip_bytes({f"{member}.csv": csv_text([list(header), *rows])})

    # when
    items = read_gpuhunt_zip(scratch, data)

    # then
    offers, errors = well_formed(items)
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", member.lower()) or len(member) > 60:
        # it would be the slug of a provider: one the providers table cannot hold, or junk
        assert offers == [] and len(errors) == 1, items
        assert errors[0].where == f"source gpuhunt-catalog: catalog.zip/{member}.csv"
        return
    if missing := [c for c in GPUHUNT_REQUIRED if c not in header]:
        assert offers == [] and len(errors) == 1, items
        assert errors[0].reason == f"missing columns: {', '.join(missing)}"
        return
    assert len(items) == len(rows), items  # one outcome per row, in file order
    for item, written in zip(items, rows, strict=True):
        if type(item) is RowError:
            assert item.where.startswith(f"catalog.zip/{member}.csv:"), item
            continue
        cell = dict(zip(header, written, strict=True))
        assert item.sku == cell["instance_name"].strip()
        assert item.price_per_hour == rate(cell["price"]) and item.price_per_hour > 0
        spot = cell["spot"].strip().lower() == "true"
        assert item.pricing == (PricingModel.SPOT if spot else PricingModel.ON_DEMAND)


GPUHUNT_ZIP = zip_bytes(
    {
        f"{provider}.csv": (SAMPLES / "gpuhunt" / f"{provider}.csv").read_text(encoding="utf-8")
        for provider in ("aws", "lambdalabs", "broken")
    }
)


@PROPERTY_SETTINGS
@given(
    flips=st.lists(st.tuples(st.floats(0, 1), st.integers(1, 255)), max_size=4),
    cut_at=st.none() | st.floats(0, 1),
)
def test_a_corrupt_gpuhunt_zip_is_reported_never_raised(scratch, flips, cut_at):
    # given: bytes flipped anywhere (headers, compressed data, the directory) or cut short
    data = bytearray(GPUHUNT_ZIP)
    for at, mask in flips:
        data[min(int(at * len(data)), len(data) - 1)] ^= mask
    if cut_at is not None:
        data = data[: int(cut_at * len(data))]

    # when
    items = read_gpuhunt_zip(scratch, bytes(data))

    # then
    well_formed(items)


# -- AWS: the bulk price list CSV --------------------------------------------------------------


def _aws_sample() -> tuple[list[list[str]], list[str], list[dict[str, str]]]:
    with (SAMPLES / "aws" / "index.csv").open(newline="", encoding="utf-8") as handle:
        lines = list(csv.reader(handle))
    at = next(i for i, line in enumerate(lines) if line and line[0] == "SKU")
    header = lines[at]
    rows = [
        dict(zip(header, line, strict=True)) for line in lines[at + 1 :] if len(line) == len(header)
    ]
    # the rows AWS's price list means as on-demand Linux offers (see aws.py's docstring)
    offers = [
        row
        for row in rows
        if (row["TermType"], row["Operating System"], row["Tenancy"])
        == ("OnDemand", "Linux", "Shared")
        and (row["Pre Installed S/W"], row["CapacityStatus"], row["Unit"]) == ("NA", "Used", "Hrs")
        and rate(row["PricePerUnit"])
    ]
    return lines[:at], header, offers


AWS_PREAMBLE, AWS_COLUMNS, AWS_ROWS = _aws_sample()
AWS_COLUMNS = tuple(AWS_COLUMNS)
AWS_REQUIRED = (
    "TermType", "PricePerUnit", "Unit", "Instance Type", "Operating System", "Tenancy",
    "Pre Installed S/W", "CapacityStatus", "Region Code",
)  # fmt: skip
# Cells that do not decide whether a row is an offer at all (those are TermType...Unit).
AWS_VALUE_COLUMNS = (
    "PricePerUnit", "Instance Type", "vCPU", "Memory", "Storage", "GPU", "Region Code", "Currency",
)  # fmt: skip


@PROPERTY_SETTINGS
@given(
    header=layouts(AWS_COLUMNS, ("SKU", *AWS_REQUIRED)),
    edits=st.lists(
        row_edits(AWS_COLUMNS, len(AWS_ROWS), AWS_VALUE_COLUMNS), min_size=1, max_size=6
    ),
)
def test_every_aws_price_list_offer_row_is_one_offer_or_one_row_error(scratch, header, edits):
    # given: the header still starts with SKU (that is how the reader finds it)
    header = ("SKU", *(c for c in header if c != "SKU"))
    rows = [written_fields(header, AWS_ROWS[e.base], e) for e in edits]
    file = scratch / "index.csv"
    file.write_text(csv_text([*AWS_PREAMBLE, list(header), *rows]), encoding="utf-8")

    # when
    items = list(AwsPricingSource().fetch(path=str(file)))

    # then
    offers, errors = well_formed(items)
    if missing := [c for c in AWS_REQUIRED if c not in header]:
        assert offers == [] and len(errors) == 1, items
        assert errors[0].reason == f"missing columns: {', '.join(missing)}"
        return
    assert len(items) == len(rows), items
    for item, written in zip(items, rows, strict=True):
        if type(item) is RowError:
            assert item.where.startswith("index.csv:"), item
            continue
        cell = dict(zip(header, written, strict=True))
        assert item.sku == cell["Instance Type"].strip()
        assert item.price_per_hour == rate(cell["PricePerUnit"]) and item.price_per_hour > 0
        assert item.region == cell["Region Code"].strip()


AWS_TEXT = (SAMPLES / "aws" / "index.csv").read_text(encoding="utf-8")
GPUHUNT_TEXT = (SAMPLES / "gpuhunt" / "lambdalabs.csv").read_text(encoding="utf-8")


@PROPERTY_SETTINGS
@given(
    edits=text_edits, cut_at=st.none() | st.floats(0, 1), which=st.sampled_from(["aws", "gpuhunt"])
)
def test_a_mangled_price_list_or_gpuhunt_csv_never_raises(scratch, edits, cut_at, which):
    if which == "aws":
        file = scratch / "index.csv"
        file.write_text(mangled(AWS_TEXT, edits, cut_at), encoding="utf-8")
        items = AwsPricingSource().fetch(path=str(file))
    else:
        file = scratch / "lambdalabs.csv"
        file.write_text(mangled(GPUHUNT_TEXT, edits, cut_at), encoding="utf-8")
        items = GpuhuntCatalogSource().fetch(path=str(file))

    well_formed(list(items))


# -- JSON sources: arbitrary JSON in place of any field ---------------------------------------


class Raw(str):
    """A number written into the JSON text as it is ("1e999999"): json.dumps cannot make one."""


RAW_MARK = re.compile(r'"@raw@(.*?)@"')
json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**63, -(2**63) - 1, 10**400, 0, -1]),
    st.floats(),  # NaN and Infinity included: json writes them, and providers have sent them
    st.text(max_size=10),
    st.sampled_from(AWKWARD_TEXTS),
    st.sampled_from(["1e999999", "-1e999999", "1e-999999", "9" * 40 + ".5", "-0.0"]).map(Raw),
)


def json_containers(inner):
    keys = st.text(max_size=6) | st.sampled_from(["name", "id", "Items"])
    return st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3)


json_values = st.recursive(json_leaves, json_containers, max_leaves=6)


def json_text(payload) -> str:
    def raw(value):
        raise TypeError(value)

    text = json.dumps(_marked(payload), default=raw)
    return RAW_MARK.sub(lambda m: json.loads(f'"{m.group(1)}"'), text)


def _marked(value):
    if isinstance(value, Raw):
        return f"@raw@{value}@"
    if isinstance(value, dict):
        return {k: _marked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_marked(v) for v in value]
    return value


@dataclass(frozen=True)
class JsonSource:
    """A JSON document source: its sample, where its items sit, how one item alone reads."""

    name: str
    make: Any
    sample: Path
    items_at: tuple  # the path of the list or object holding one entry per item
    keeps_untouched: bool = True  # False: one item's error may shadow another's offer

    def payload(self):
        return json.loads(self.sample.read_text(encoding="utf-8"))

    def with_items(self, items: dict) -> Any:
        payload = self.payload()
        container = _at(payload, self.items_at)
        if isinstance(container, list):
            container[:] = [items[k] for k in sorted(items)]
        else:
            container.clear()
            container.update(items)
        return payload


def _at(value, path):
    for key in path:
        value = value[key]
    return value


def _items(container) -> dict:
    if isinstance(container, list):
        return dict(enumerate(container))
    return dict(container) if isinstance(container, dict) else {}


JSON_SOURCES = {
    "vast": JsonSource("vast", VastSource, SAMPLES / "vast" / "bundles.json", ("offers",)),
    "runpod": JsonSource(
        "runpod", RunpodSource, SAMPLES / "runpod" / "gpu-types.json", ("data", "gpuTypes")
    ),
    "lambda": JsonSource(
        "lambda", LambdaCloudSource, SAMPLES / "lambda" / "instance-types.json", ("data",)
    ),
    "azure": JsonSource(
        "azure", AzureRetailPricesSource, SAMPLES / "azure" / "page1.json", ("Items",)
    ),
    # the latest price per (type, zone) wins, and an entry whose price is broken reports
    # instead: an edited entry may hide another's offer, so only the shape is checked
    "aws-spot": JsonSource(
        "aws-spot",
        AwsPricingSource,
        SAMPLES / "aws" / "spot-history.json",
        ("SpotPriceHistory",),
        keeps_untouched=False,
    ),
}


def read_json(scratch: Path, source: JsonSource, text: str) -> list:
    file = scratch / f"{source.name}.json"
    file.write_text(text, encoding="utf-8")
    return list(source.make().fetch(path=str(file)))


def all_paths(value, prefix: tuple = ()) -> list[tuple]:
    paths = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            paths += all_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            paths += all_paths(item, (*prefix, index))
    return paths


def offer_key(offer: OfferRow) -> tuple:
    return (offer.sku, offer.region, offer.zone, offer.pricing)


_UNTOUCHED: dict[str, list[tuple[Any, OfferRow]]] = {}  # by source, worked out once


def offers_alone(scratch: Path, source: JsonSource, key, item) -> list[OfferRow]:
    """The offers one item gives when it is the only one."""
    text = json_text(source.with_items({key: item}))
    return [i for i in read_json(scratch, source, text) if type(i) is OfferRow]


def untouched_offers(scratch: Path, source: JsonSource) -> list[tuple[Any, OfferRow]]:
    """(item key, offer) for every offer of the unedited sample, found by reading each item
    alone and keeping what the whole sample gives too."""
    if source.name not in _UNTOUCHED:
        payload = source.payload()
        whole = [i for i in read_json(scratch, source, json_text(payload)) if type(i) is OfferRow]
        _UNTOUCHED[source.name] = [
            (key, offer)
            for key, item in _items(_at(payload, source.items_at)).items()
            for offer in offers_alone(scratch, source, key, item)
            if offer in whole
        ]
    return _UNTOUCHED[source.name]


@PROPERTY_SETTINGS
@given(name=st.sampled_from(sorted(JSON_SOURCES)), data=st.data())
def test_arbitrary_json_in_any_field_is_reported_and_the_other_items_are_kept(scratch, name, data):
    # given: up to three fields (or whole items, or the document) replaced or removed
    source = JSON_SOURCES[name]
    payload = source.payload()
    touched: set = set()
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        path = data.draw(st.sampled_from(all_paths(payload)), label="path")
        depth = len(source.items_at)
        if len(path) > depth and path[:depth] == source.items_at:
            touched.add(path[depth])
        elif source.items_at[: len(path)] == path:
            touched.add("*")  # the items' container, or the document, is no more
        # else: a field beside the items (azure's NextPageLink), which no item reads
        parent_path, key = path[:-1], path[-1] if path else None
        parent = _at(payload, parent_path) if path else None
        if isinstance(parent, dict) and data.draw(st.booleans(), label="remove"):
            del parent[key]
        else:
            value = data.draw(json_values, label="value")
            if path:
                parent[key] = value
            else:
                payload = value

    # when
    items = read_json(scratch, source, json_text(payload))

    # then
    offers, _ = well_formed(items)
    if not source.keeps_untouched or "*" in touched:
        return
    edited = _items(_at(payload, source.items_at))
    hidden = {  # keys an edited item now claims for itself (a later price of the same meter)
        offer_key(o)
        for key in touched
        if key in edited
        for o in offers_alone(scratch, source, key, edited[key])
    }
    kept = [o for key, o in untouched_offers(scratch, source) if key not in touched]
    assert [o for o in kept if offer_key(o) not in hidden and o not in offers] == []


@PROPERTY_SETTINGS
@given(
    name=st.sampled_from(sorted(JSON_SOURCES)), edits=text_edits, cut_at=st.none() | st.floats(0, 1)
)
def test_a_mangled_json_document_is_reported_never_raised(scratch, name, edits, cut_at):
    source = JSON_SOURCES[name]

    items = read_json(
        scratch, source, mangled(source.sample.read_text(encoding="utf-8"), edits, cut_at)
    )

    well_formed(items)


# -- normalisation: any well-formed offer row -> an offer input, None, or a RowProblem ----------
# "Well-formed" is what `assert_offer_well_formed` holds the readers to: finite Decimals and a
# GPU size a float can hold. Outside that the normaliser still raises (NaN: InvalidOperation
# in `offer_input_problem`; 10**400 MiB: OverflowError in `gpu_names.resolve`).


class _EveryGpuKnown:
    """Stands in for the GPU table: every canonical GPU has an id (no database here)."""

    def id_for(self, key: tuple) -> int:
        return 1


class _EveryProviderKnown:
    def id_for(self, slug: str) -> int:
        return 1


def normaliser() -> Normaliser:
    with mock.patch.object(normalise, "GpuCache", _EveryGpuKnown):
        made = Normaliser()
    made.providers = _EveryProviderKnown()
    return made


finite_decimals = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False),
    st.sampled_from([Decimal("1e14") - 1, Decimal("-0.000001"), Decimal("99999999.9999995")]),
)
offer_texts = st.one_of(
    st.text(max_size=8), st.sampled_from(AWKWARD_TEXTS), st.text(min_size=250, max_size=300)
)
offer_rows = st.builds(
    OfferRow,
    sku=offer_texts,
    provider=st.sampled_from(["aws", "lambda", "vast", "hyperstack"]),
    gpu_label=st.one_of(
        st.sampled_from(
            ["H100", "A100", "A100-80GB", "H100 (80 GB SXM5)", "RTX 4090", "tpu-v6e-8"]
        ),
        offer_texts,
    ),
    gpu_count=st.integers(min_value=-5, max_value=2**40),
    price_per_hour=finite_decimals,
    pricing=st.sampled_from(sorted(PRICING_MODELS)),
    currency=st.sampled_from(["USD", "EUR"]) | offer_texts,
    gpu_memory_mib=st.none() | st.integers(min_value=-(2**40), max_value=2**1000),
    vcpus=st.none() | finite_decimals,
    memory_gb=st.none() | finite_decimals,
    disk_gb=st.none() | finite_decimals,
    region=offer_texts,
    zone=offer_texts,
    available=st.none() | st.integers(min_value=-5, max_value=2**40),
    reliability=st.none() | finite_decimals,
    interconnect=st.sampled_from(["", "sxm", "pcie"]) | offer_texts,
    extra=st.dictionaries(st.text(max_size=5), st.text(max_size=5) | st.integers()),
)
NUMBER_COLUMNS = {
    f.name: Decimal(10) ** (f.max_digits - f.decimal_places)
    for f in Offer._meta.fields
    if getattr(f, "max_digits", None) and f.name in OfferInput.__dataclass_fields__
}
TEXT_COLUMNS = {
    f.name: f.max_length
    for f in Offer._meta.fields
    if getattr(f, "max_length", None) and f.name in OfferInput.__dataclass_fields__
}


@settings(PROPERTY_SETTINGS, max_examples=400)
@given(row=offer_rows)
def test_normalising_any_offer_row_gives_a_storable_offer_none_or_a_row_problem(row):
    try:
        offer = normaliser().normalise(row)
    except RowProblem as problem:
        assert str(problem).strip()
        return
    if offer is None:
        return
    for name, bound in NUMBER_COLUMNS.items():  # numeric(p, s): below 10**(p - s)
        value = getattr(offer, name)
        assert value is None or 0 <= value < bound, (name, value)
    for name, limit in TEXT_COLUMNS.items():
        assert len(getattr(offer, name)) <= limit and "\x00" not in getattr(offer, name), name
    assert 1 <= offer.gpu_count <= 32767 and 0 <= offer.available < 2**31  # smallint, integer
    (line,) = offer_batch_prepare(batch=[offer]).lines  # what COPY is sent
    assert line.endswith("\n") and line.count("\n") == 1


# offer_input_problem once compared a number with its bound before PostgreSQL rounds it
def test_a_number_that_rounds_past_its_column_is_a_row_problem():
    row = OfferRow(
        sku="gpu_1x_h100", provider="aws", gpu_label="H100", gpu_count=1,
        price_per_hour=Decimal("2.500000"), vcpus=Decimal("999999.95"),
    )  # fmt: skip

    with pytest.raises(RowProblem, match="vcpus"):
        normaliser().normalise(row)


# -- regressions: inputs that broke a reader before its fix ------------------------------------
# Found by the properties above, or by reading the readers for what they could meet. Each
# comment names what happened: mostly an exception, which lost the rows after it and left
# the run partial.

H100_ROW = {
    "InstanceType": "gpu_1x_h100", "AcceleratorName": "H100", "AcceleratorCount": "1",
    "Price": "2.50", "Region": "us-east-1",
}  # fmt: skip


def skypilot_file(tmp_path: Path, *rows: dict, header=SKYPILOT_COLUMNS) -> Path:
    file = tmp_path / "vast" / "vms.csv"
    file.parent.mkdir()
    file.write_text(csv_text([list(header), *([r.get(c, "") for c in header] for r in rows)]))
    return file


def fetch(source, path: Path) -> tuple[list[OfferRow], list[RowError]]:
    return well_formed(source.fetch(path=str(path)))


@pytest.mark.parametrize(
    ("cell", "value", "reason"),
    [
        ("Price", "1e30", "non-numeric Price '1e30'"),  # InvalidOperation (6 places)
        ("AcceleratorCount", "1e9999999", "non-numeric AcceleratorCount '1e9999999'"),  # hours
        ("Price", "1e-9", "no price: Price and SpotPrice are empty or 0"),  # was a $0 offer
    ],
)
def test_skypilot_numbers_out_of_any_range_are_row_errors(tmp_path, cell, value, reason):
    file = skypilot_file(tmp_path, {**H100_ROW, cell: value}, H100_ROW)

    started = time.monotonic()
    offers, errors = fetch(SkypilotCatalogSource(), file)

    assert time.monotonic() - started < 5
    assert [(e.where, e.reason) for e in errors] == [("vast/vms.csv:2", reason)]
    assert [(o.sku, o.price_per_hour) for o in offers] == [("gpu_1x_h100", Decimal("2.500000"))]


def test_a_skypilot_tpu_label_with_thousands_of_digits_is_a_row_error(tmp_path):
    # ValueError from int(): 4300 digits and more are refused
    label = "tpu-v5p-" + "9" * 5000
    file = skypilot_file(tmp_path, {**H100_ROW, "InstanceType": "", "AcceleratorName": label})

    offers, errors = fetch(SkypilotCatalogSource(), file)

    assert offers == []
    assert [e.reason for e in errors] == [f"accelerator {label!r} without InstanceType"]


@pytest.mark.parametrize(
    "gpu_info",
    [
        '{"Gpus": [{"MemoryInfo": {"SizeInMiB": 1e999}}]}',  # OverflowError: round(inf)
        "{'Gpus': [{'MemoryInfo': {'SizeInMiB': 1e999}}]}",  # the same, as a Python repr
        "{'TotalGpuMemoryInMiB': " + "9" * 400 + "}",  # OverflowError: too big for a float
        "[" * 3000,  # RecursionError from json
    ],
)
def test_an_absurd_skypilot_gpu_info_costs_nothing_but_the_memory(tmp_path, gpu_info):
    file = skypilot_file(tmp_path, {**H100_ROW, "GpuInfo": gpu_info})

    offers, errors = fetch(SkypilotCatalogSource(), file)

    assert errors == []
    assert [(o.sku, o.gpu_label, o.gpu_memory_mib) for o in offers] == [
        ("gpu_1x_h100", "H100", None)
    ]


def test_a_skypilot_header_field_past_the_csv_limit_is_a_source_failure(tmp_path):
    # csv.Error: "field larger than field limit (131072)"
    file = skypilot_file(tmp_path, H100_ROW, header=(*SKYPILOT_REQUIRED, "x" * 140_000))

    offers, errors = fetch(SkypilotCatalogSource(), file)

    assert offers == []
    assert [(e.where, e.reason) for e in errors] == [
        (
            "source skypilot-catalog: vast/vms.csv",
            "malformed CSV header: field larger than field limit (131072)",
        )
    ]


GPUHUNT_H100 = "gpu_1x_h100,us-east-1,2.49,26,200.0,1,H100,80.0,False,1024,nvidia,,x86,"


def gpuhunt_zip(tmp_path: Path, members: dict[str, str], **options) -> Path:
    file = tmp_path / "catalog.zip"
    file.write_bytes(zip_bytes(members, **options))
    return file


def test_gpuhunt_provider_data_is_kept_as_jsonb_can_hold_it(tmp_path):
    # jsonb refuses NaN (the batch's COPY failed); "[[[..." raised RecursionError
    lines = [GPUHUNT_H100 + '"{""a"": [NaN, -Infinity]}"', GPUHUNT_H100 + "[" * 3000]
    file = gpuhunt_zip(tmp_path, {"aws.csv": "\n".join([",".join(GPUHUNT_COLUMNS), *lines])})

    offers, errors = fetch(GpuhuntCatalogSource(), file)

    assert errors == []
    assert [o.extra["provider_data"] for o in offers] == [{"a": ["NaN", "-Infinity"]}, "[" * 3000]


def test_a_gpuhunt_gpu_memory_past_any_range_is_a_row_error(tmp_path):
    # decimal.Overflow: 1e999999 x 1024 is past the Decimal context's largest exponent
    text = "\n".join([",".join(GPUHUNT_COLUMNS), GPUHUNT_H100.replace(",80.0,", ",1e999999,")])

    offers, errors = fetch(GpuhuntCatalogSource(), gpuhunt_zip(tmp_path, {"aws.csv": text}))

    assert offers == []
    assert [(e.where, e.reason) for e in errors] == [
        ("catalog.zip/aws.csv:2", "non-numeric gpu_memory '1e999999'")
    ]


def test_a_gpuhunt_member_whose_name_is_no_provider_slug_is_a_source_failure(tmp_path):
    # the offers were read, then creating a provider of that slug failed the whole sync
    text = "\n".join([",".join(GPUHUNT_COLUMNS), GPUHUNT_H100])
    long_name = "x" * 61  # Provider.slug holds 60
    file = gpuhunt_zip(tmp_path, {":.csv": text, f"{long_name}.csv": text, "aws.csv": text})

    offers, errors = fetch(GpuhuntCatalogSource(), file)

    assert [o.provider for o in offers] == ["aws"]
    assert [e.where for e in errors] == [
        "source gpuhunt-catalog: catalog.zip/:.csv",
        f"source gpuhunt-catalog: catalog.zip/{long_name}.csv",
    ]
    assert {e.reason for e in errors} == {"the file name is no provider name"}


def test_a_corrupt_gpuhunt_zip_member_keeps_the_rows_read_and_reports_the_rest(tmp_path):
    # BadZipFile ("Bad CRC-32") is raised when the member's end is reached
    rows = [GPUHUNT_H100.replace("gpu_1x_h100", f"gpu-{n}") for n in range(1000)]
    text = "\n".join([",".join(GPUHUNT_COLUMNS), *rows])
    file = gpuhunt_zip(tmp_path, {"aws.csv": text}, compression=zipfile.ZIP_STORED)
    data = bytearray(file.read_bytes())
    data[data.index(b"gpu-999,")] = ord("G")  # the checksum no longer matches
    file.write_bytes(bytes(data))

    items = list(GpuhuntCatalogSource().fetch(path=str(file)))

    offers, errors = well_formed(items)
    assert 0 < len(offers) < 1000  # the rows of the chunks read before the check
    assert [o.sku for o in offers] == [f"gpu-{n}" for n in range(len(offers))]
    assert items[-1] == errors[0] and len(errors) == 1
    assert errors[0].where == "source gpuhunt-catalog: catalog.zip/aws.csv"
    assert (
        errors[0].reason == "unreadable in the zip: BadZipFile(\"Bad CRC-32 for file 'aws.csv'\")"
    )


def test_an_aws_storage_size_that_is_no_number_is_a_row_error(tmp_path):
    # InvalidOperation from Decimal(".")
    file = tmp_path / "index.csv"
    text = (SAMPLES / "aws" / "index.csv").read_text(encoding="utf-8")
    file.write_text(text.replace('"1 x 250 NVMe SSD"', '"1 x . SSD"'), encoding="utf-8")

    offers, errors = fetch(AwsPricingSource(), file)

    assert "g5.xlarge" not in {o.sku for o in offers}
    assert ("index.csv:14", "unreadable Storage '1 x . SSD'") in [
        (e.where, e.reason) for e in errors
    ]


def test_aws_spot_entries_whose_names_are_not_text_are_row_errors(tmp_path):
    # TypeError (a list is unhashable, a bool has no zone to parse), AttributeError (an int)
    entry = {
        "AvailabilityZone": "us-east-1b", "InstanceType": "p4d.24xlarge",
        "ProductDescription": "Linux/UNIX", "SpotPrice": "9.8", "Timestamp": "2025-06-01",
    }  # fmt: skip
    history = [
        {**entry, "InstanceType": ["p4d.24xlarge"]},
        {**entry, "AvailabilityZone": True},
        {**entry, "InstanceType": 5},
        {**entry, "ProductDescription": ["Linux/UNIX"]},  # not a Linux price: skipped
        entry,
    ]
    file = tmp_path / "spot.json"
    file.write_text(json.dumps({"SpotPriceHistory": history}))

    offers, errors = fetch(AwsPricingSource(), file)

    assert [(o.sku, o.zone, o.price_per_hour) for o in offers] == [
        ("p4d.24xlarge", "us-east-1b", Decimal("9.800000"))
    ]
    assert [e.where for e in errors] == ["spot.json[0]", "spot.json[1]", "spot.json[2]"]


@pytest.mark.parametrize(
    "source",
    [AwsPricingSource, AzureRetailPricesSource, VastSource, RunpodSource, LambdaCloudSource],
)
def test_a_json_document_nested_past_the_recursion_limit_is_a_source_failure(tmp_path, source):
    # RecursionError from json.loads
    file = tmp_path / "document.json"
    file.write_text("[" * 3000 + "]" * 3000)

    offers, errors = fetch(source(), file)

    assert offers == []
    assert len(errors) == 1 and errors[0].where.startswith(f"source {source.name}: ")
    assert "maximum recursion depth exceeded" in errors[0].reason


def lambda_type(**fields) -> dict:
    entry = json.loads((SAMPLES / "lambda" / "instance-types.json").read_text())["data"]
    entry = copy.deepcopy(entry["gpu_8x_h100_sxm5"])
    for name, value in fields.items():
        if name.startswith("region_"):
            entry["regions_with_capacity_available"][0][name.removeprefix("region_")] = value
        else:
            entry["instance_type"][name] = value
    return entry


def test_lambda_instance_types_with_fields_of_the_wrong_type_are_row_errors(tmp_path):
    # AttributeError (specs 1, gpu_description true), InvalidOperation (price "abc"); a
    # region named 5 became an offer whose region was no text, and NaN an extra jsonb refuses
    data = {
        "a": lambda_type(specs=1),
        "b": lambda_type(gpu_description=True),
        "c": lambda_type(price_cents_per_hour="abc"),
        "d": lambda_type(price_cents_per_hour=""),
        "e": lambda_type(region_name=5),
        "f": lambda_type(name="f", description=float("nan")),
    }
    file = tmp_path / "instance-types.json"
    file.write_text(json.dumps({"data": data}))

    offers, errors = fetch(LambdaCloudSource(), file)

    assert [e.where for e in errors] == [f"instance-types {name}" for name in "abcde"]
    assert [(o.sku, o.region, o.extra["description"]) for o in offers] == [
        ("f", "us-east-1", "nan"),
        ("f", "us-west-3", "nan"),
    ]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"errors": 5}, "GraphQL errors: 5"),  # TypeError: int is not iterable
        ({"data": [1]}, "response has no data.gpuTypes list"),  # AttributeError: list.get
    ],
)
def test_a_runpod_response_of_the_wrong_shape_is_a_source_failure(tmp_path, payload, reason):
    file = tmp_path / "gpu-types.json"
    file.write_text(json.dumps(payload))

    offers, errors = fetch(RunpodSource(), file)

    assert offers == []
    assert [(e.where, e.reason) for e in errors] == [("source runpod: gpuTypes", reason)]


def test_runpod_gpu_types_with_fields_of_the_wrong_type_are_row_errors(tmp_path):
    # AttributeError (lowestPrice "x"); an id of 5 became a GPU label that was no text
    sample = json.loads((SAMPLES / "runpod" / "gpu-types.json").read_text())
    a100 = sample["data"]["gpuTypes"][1]
    gpu_types = [{**a100, "lowestPrice": "x"}, {**a100, "id": 5}, a100]
    file = tmp_path / "gpu-types.json"
    file.write_text(json.dumps({"data": {"gpuTypes": gpu_types}}))

    offers, errors = fetch(RunpodSource(), file)

    assert [e.where for e in errors] == ["gpuTypes[0]", "gpuTypes[1]"]
    assert {o.gpu_label for o in offers} == {"NVIDIA A100 80GB PCIe"}


def test_vast_offers_that_are_no_objects_are_row_errors_and_nan_is_kept_as_text(tmp_path):
    # AttributeError (str.get); NaN in extra failed the batch's COPY (jsonb refuses it)
    offer = json.loads((SAMPLES / "vast" / "bundles.json").read_text())["offers"][0]
    broken = {**offer, "inet_down": float("nan"), "gpu_frac": [float("inf")]}
    file = tmp_path / "bundles.json"
    file.write_text(json.dumps({"offers": ["x", broken]}))

    offers, errors = fetch(VastSource(), file)

    assert [(e.where, e.reason) for e in errors] == [
        ("offers[0]", "unreadable offer: 'str' object has no attribute 'get'")
    ]
    assert [(o.extra["inet_down"], o.extra["gpu_frac"]) for o in offers] == [
        ("NaN", ["Infinity"]),
        ("NaN", ["Infinity"]),
    ]


@pytest.mark.parametrize("page", [{"Items": 1}, [{"Items": []}]])  # TypeError, AttributeError
def test_an_azure_page_without_an_items_list_is_a_source_failure(tmp_path, page):
    file = tmp_path / "page.json"
    file.write_text(json.dumps(page))

    offers, errors = fetch(AzureRetailPricesSource(), file)

    assert offers == []
    assert [(e.where, e.reason) for e in errors] == [
        ("source azure: retail prices", "a page has no Items list")
    ]


def test_azure_items_that_are_no_objects_or_absurd_sizes_are_row_errors(tmp_path):
    # AttributeError (int.get); ValueError from int() of 5000 digits
    item = json.loads((SAMPLES / "azure" / "page1.json").read_text())["Items"][0]
    huge = "Standard_NC" + "9" * 5000 + "ads_A100_v4"
    file = tmp_path / "page.json"
    file.write_text(json.dumps({"Items": [5, {**item, "armSkuName": huge}, item]}))

    offers, errors = fetch(AzureRetailPricesSource(), file)

    assert [(e.where, e.reason) for e in errors] == [
        ("Items[0]", "not an object: 5"),
        (huge, "N-series size not in the Azure GPU table"),
    ]
    assert [o.sku for o in offers] == ["Standard_NC24ads_A100_v4"]
