"""python manage.py refresh_prices [--source NAME] [--path FILE_OR_DIR]"""

from __future__ import annotations

import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from brokers.registry import UnknownIntegration, source_names
from brokers.services.sync import refresh_source

SUMMARY_FIELDS = ("rows_read", "rows_skipped", "created", "updated", "unchanged", "withdrawn")


class Command(BaseCommand):
    help = "Refresh offers from one pricing source (or every scheduled one) now, in this process."

    def add_arguments(self, parser):
        parser.add_argument("--source", help=f"One of: {', '.join(source_names())}")
        parser.add_argument(
            "--path", help="A local file or folder to read instead of the source's URL."
        )

    def handle(self, *args, source=None, path=None, **options):
        if path and not source:
            raise CommandError("--path needs --source")
        names = [source] if source else [e.partition(":")[0] for e in settings.PRICING_SCHEDULE]
        syncs = []
        for name in names:
            try:
                syncs.append(
                    refresh_source(source_name=name, path=path, on_progress=self._progress(name))
                )
            except UnknownIntegration as exc:
                raise CommandError(str(exc)) from None
            if sys.stderr.isatty():
                sys.stderr.write("\n")
        self._summary(syncs)
        if any(s.status == "failed" for s in syncs):
            raise CommandError("at least one source failed; see the errors above")

    def _progress(self, name: str):
        if not sys.stderr.isatty():
            return None

        def show(rows: int) -> None:
            sys.stderr.write(f"\r{name}: {rows:,} rows read")
            sys.stderr.flush()

        return show

    def _summary(self, syncs) -> None:
        header = ["source", "status", *SUMMARY_FIELDS, "unknown labels", "errors", "seconds"]
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
                    f"{seconds:.2f}",
                ]
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        for row in rows:
            self.stdout.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
        for s in syncs:
            for label, count in sorted(s.unknown_labels.items(), key=lambda kv: -kv[1])[:20]:
                self.stdout.write(f"  unknown GPU label in {s.source}: {label!r} ({count} rows)")
            for error in s.errors[:20]:
                self.stdout.write(f"  error in {s.source}: {error['where']}: {error['reason']}")
