"""python manage.py refresh_prices [--source NAME] [--path FILE_OR_DIR] [--full]"""

from __future__ import annotations

import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from brokers.registry import UnknownIntegration, get_source, source_names
from brokers.services.feeds import InputStatus
from brokers.services.sync import refresh_source

SUMMARY_FIELDS = (
    "rows_read", "rows_skipped", "created", "updated", "unchanged", "withdrawn", "stale",
    "suspect_flagged", "suspect_cleared",
)  # fmt: skip
INPUT_COUNTS = (InputStatus.READ, InputStatus.UNCHANGED)
SHOWN_PER_SYNC = 20  # unknown labels and errors listed under the table


class Command(BaseCommand):
    help = (
        "Refresh offers from one pricing source (or every scheduled one, PRICING_SCHEDULE) "
        "now, in this process. Exits with 1 when a source failed; the others still run."
    )

    def add_arguments(self, parser):
        parser.add_argument("--source", help=f"One of: {', '.join(source_names())}")
        parser.add_argument(
            "--path", help="A local file or folder (or a URL) to read instead of the source's URL."
        )
        parser.add_argument(
            "--full",
            action="store_true",
            help="Read every input, also those unchanged since the last sync (by default their "
            "offers are only marked as seen again).",
        )

    def handle(self, *args, source=None, path=None, full=False, **options):
        if path and not source:
            raise CommandError("--path needs --source")
        runs = (
            [(source, path)] if source else [(e.source, e.path) for e in settings.PRICING_SCHEDULE]
        )
        for name, _path in runs:
            try:
                get_source(name)
            except UnknownIntegration as exc:
                raise CommandError(str(exc)) from None
        syncs = [self._run(name, run_path, full) for name, run_path in runs]
        self._summary(syncs)
        if any(s.status == "failed" for s in syncs):
            raise CommandError("at least one source failed; see the errors above")

    def _run(self, name: str, path: str | None, full: bool):
        progress = Progress(name) if sys.stderr.isatty() else None
        sync = refresh_source(source_name=name, path=path or None, on_progress=progress, full=full)
        if progress:
            progress.done()
        return sync

    def _summary(self, syncs) -> None:
        header = ["source", "status", *SUMMARY_FIELDS, "unknown labels", "errors",
                  "inputs_read", "inputs_unchanged", "seconds"]  # fmt: skip
        rows = [header]
        for s in syncs:
            seconds = (s.finished_at - s.started_at).total_seconds()
            rows.append(
                [
                    s.source,
                    s.status,
                    *(str(getattr(s, f)) for f in SUMMARY_FIELDS),
                    str(len(s.unknown_labels)),
                    str(len(s.errors)),
                    *(str(sum(1 for i in s.inputs if i["status"] == k)) for k in INPUT_COUNTS),
                    f"{seconds:.2f}",
                ]
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        for row in rows:
            self.stdout.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
        for s in syncs:
            labels = sorted(s.unknown_labels.items(), key=lambda kv: -kv[1])
            for label, count in labels[:SHOWN_PER_SYNC]:
                self.stdout.write(f"  unknown GPU label in {s.source}: {label!r} ({count} rows)")
            for error in s.errors[:SHOWN_PER_SYNC]:
                self.stdout.write(f"  error in {s.source}: {error['where']}: {error['reason']}")
            hidden = len(s.errors) - SHOWN_PER_SYNC
            if hidden > 0:
                self.stdout.write(f"  ... {hidden} more errors in {s.source} (see the admin)")


class Progress:
    """One self-rewriting line on stderr: rows read so far and the rate."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.started = time.monotonic()

    def __call__(self, rows: int) -> None:
        rate = rows / max(time.monotonic() - self.started, 1e-9)
        sys.stderr.write(f"\r{self.name}: {rows:,} rows read ({rate:,.0f} rows/s)")
        sys.stderr.flush()

    def done(self) -> None:
        sys.stderr.write("\n")
