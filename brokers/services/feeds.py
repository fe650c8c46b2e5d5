"""A pricing source's inputs across syncs: which of them are unchanged since the last sync.

Each input of a source (a catalog file, a zip, an API response: `SourceInput`) is a feed
(`marketplace.PriceFeed`), and every offer a sync writes remembers its feed. The sync record
keeps, per input, its fingerprint and what it gave (`InputRecord`). The next sync skips an
input whose fingerprint equals the one the *reference* recorded (the last sync of the source
that did not fail): it touches that input's offers instead of reading it.

The fingerprint covers the input's bytes only, so it is trusted only when the reading of it
has not changed either: `reader_version` hashes the code that turns bytes into offers and the
canonical GPU list. After a deploy that changes either, every input is read again once.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from django.db import IntegrityError, transaction

from brokers.models import PriceSync, SyncStatus
from marketplace.models import GpuModel, PriceFeed


class InputStatus:
    READ = "read"  # parsed and written in this sync
    UNCHANGED = "unchanged"  # same fingerprint as in the reference: its offers were touched
    FAILED = "failed"  # could not be read whole, or its offers may not all be written


@dataclass
class InputRecord:
    """What the sync record keeps about one input (PriceSync.inputs)."""

    name: str
    fingerprint: str
    status: str
    reader: str  # reader_version() of the sync that read it
    read_in: int | None = None  # the sync that parsed it: its row errors are listed there
    rows_read: int = 0
    rows_skipped: int = 0
    offers: int = 0
    errors: int = 0
    touched: int = 0  # offers touched, when unchanged
    providers: list[str] = field(default_factory=list)
    unknown_labels: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict) -> InputRecord:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_json(self) -> dict:
        return asdict(self)

    def carried(self) -> InputRecord:
        """This record in a sync that skips the input: the same counts, marked unchanged."""
        return replace(self, status=InputStatus.UNCHANGED, touched=0)

    def failed(self) -> InputRecord:
        return replace(self, status=InputStatus.FAILED, fingerprint="")


# The code that turns an input's bytes into offers. A change to any of it (a parser fix, a
# new GPU alias) must make every input be read again, whatever its fingerprint.
_READER_MODULES = ("brokers/sources", "brokers/services/normalise.py", "marketplace/gpu_names.py",
                   "marketplace/locations.py", "marketplace/services/offer_inputs.py",
                   "marketplace/services/offer_writer.py")  # fmt: skip
_ROOT = Path(__file__).resolve().parent.parent.parent


@functools.cache
def _reader_code_digest() -> str:
    digest = hashlib.sha256()
    for module in _READER_MODULES:
        path = _ROOT / module
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(file.read_bytes())
    return digest.hexdigest()


def reader_version() -> str:
    """The reading code and the canonical GPU list (rows an operator may add), hashed."""
    digest = hashlib.sha256(_reader_code_digest().encode())
    for row in GpuModel.objects.order_by("pk").values_list("pk", "vendor", "name", "memory_gb"):
        digest.update(repr(row).encode())
    return digest.hexdigest()[:16]


class Reference:
    """The last sync of a source that did not fail, as a run compares its inputs with."""

    def __init__(self, sync: PriceSync | None, *, version: str, full: bool) -> None:
        self.sync, self.version = sync, version
        self.records: dict[str, InputRecord] = {}
        if sync is not None and not full:
            records = (InputRecord.from_json(r) for r in sync.inputs)
            self.records = {
                r.name: r
                for r in records
                if r.status != InputStatus.FAILED and r.fingerprint and r.reader == version
            }

    @classmethod
    def of(cls, source_name: str, *, version: str, full: bool, before: PriceSync) -> Reference:
        return cls(last_good_sync(source_name, before=before), version=version, full=full)

    @property
    def fingerprints(self) -> dict[str, str]:
        """What a source may send back as validators (an ETag), by input name."""
        return {name: record.fingerprint for name, record in self.records.items()}

    def unchanged(self, name: str, fingerprint: str) -> InputRecord | None:
        """The reference's record of this input when the input has not changed, else None."""
        record = self.records.get(name)
        if record is not None and fingerprint and record.fingerprint == fingerprint:
            return record
        return None


def last_good_sync(
    source_name: str, *, before: PriceSync, path: str | None = None
) -> PriceSync | None:
    """The latest finished sync of the source that did not fail (of the same path, when
    given). A failed sync stored nothing, so it can never tell what the offers are."""
    syncs = PriceSync.objects.filter(
        source=source_name,
        status__in=[SyncStatus.SUCCEEDED, SyncStatus.PARTIAL],
        started_at__lte=before.started_at,
    ).exclude(pk=before.pk)
    if path is not None:
        syncs = syncs.filter(path=path)
    return syncs.order_by("-started_at", "-pk").first()


def gone_input_names(source_name: str, *, sync: PriceSync, present: set[str]) -> set[str]:
    """Inputs that the last good sync of the same path had and this one does not (a file
    removed from the catalog folder): their offers are no longer listed."""
    reference = last_good_sync(source_name, before=sync, path=sync.path)
    if reference is None:
        return set()
    return {r["name"] for r in reference.inputs} - present


class FeedCache:
    """Feed ids of one source by input name; a feed is created when an input first gives an
    offer (a failure message is an input too, and must not become a feed)."""

    def __init__(self, source_name: str) -> None:
        self.source_name = source_name
        self._ids = dict(
            PriceFeed.objects.filter(source=source_name).values_list("name", "pk").order_by()
        )

    def id_for(self, name: str) -> int:
        if name not in self._ids:
            self._ids[name] = self._get_or_create(name)
        return self._ids[name]

    def known(self, name: str) -> int | None:
        return self._ids.get(name)

    @property
    def all_ids(self) -> list[int]:
        return list(self._ids.values())

    def _get_or_create(self, name: str) -> int:
        try:
            with transaction.atomic():
                return PriceFeed.objects.get_or_create(source=self.source_name, name=name)[0].pk
        except IntegrityError:  # another run created it between our read and our insert
            return PriceFeed.objects.get(source=self.source_name, name=name).pk
