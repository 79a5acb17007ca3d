"""The report of a file job: a JSON document written when the job ends, beside the job item.

Reports go under `reports/` in the ingest bucket, a prefix that never triggers ingestion:
`reports/<key without incoming/>/<version>.json`.
"""

from __future__ import annotations

from typing import Any

from usersync.stores.jobs import DONE, ROWS, JobRef, JobStore, stamp, summary
from usersync.stores.objects import ObjectStore

REPORT_VERSION = 1


class JobReports:
    def __init__(self, jobs: JobStore, objects: ObjectStore, *, prefix: str = "reports/",
                 ingest_prefix: str = "incoming/", failed_records_queue: str | None = None):
        self.jobs, self.objects = jobs, objects
        self.prefix, self.ingest_prefix = prefix, ingest_prefix
        self.failed_records_queue = failed_records_queue

    def key_for(self, ref: JobRef) -> str:
        return f"{self.prefix}{ref.key.removeprefix(self.ingest_prefix)}/{ref.version}.json"

    def finish(self, ref: JobRef) -> dict[str, Any]:
        """Write the report of a job whose chunks are all done, then mark it DONE (a retry rewrites
        the same report: harmless)."""
        tokens: dict[str, list[str]] = {}
        for mark in self.jobs.all_marks(ref):
            if mark.destination != ROWS:
                tokens.setdefault(mark.destination, []).extend(mark.tokens)
        report = self._document(ref, tokens)
        report["state"], report["finished_at"] = DONE, stamp()
        key = self.objects.put_json(ref.bucket, self.key_for(ref), report)
        self.jobs.finish(ref, key, report["finished_at"])
        return report

    def fail(self, ref: JobRef, error: str) -> dict[str, Any]:
        """The file as a whole was refused: nothing of it is delivered; the report says why."""
        self.jobs.fail(ref, error)
        report = self._document(ref, {})
        key = self.objects.put_json(ref.bucket, self.key_for(ref), report)
        self.jobs.set_report(ref, key)
        return report

    def _document(self, ref: JobRef, tokens: dict[str, list[str]]) -> dict[str, Any]:
        item = self.jobs.get(ref) or {}
        document = {"report_version": REPORT_VERSION, **summary(item)}
        document.pop("report", None)
        for name, counts in document["destinations"].items():
            counts["tokens"] = tokens.get(name, [])
        if self.failed_records_queue:
            document["failed_records_queue"] = self.failed_records_queue
        return document
