"""S3 files in the local sandbox: upload to the ingest bucket (moto sends the S3 notification to
FileEventsQueue, as S3 does), run the file and chunk functions on the events Lambda would
deliver, read jobs and reports.

    sandbox.files.upload("incoming/users.csv", b"user_id,age:int\\nu1,42\\n")
    sandbox.files.run()                      # file function, then chunk function, until idle
    sandbox.files.report("incoming/users.csv")
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from usersync_dev.local.pump import REPO_ROOT, SqsEventPump
from usersync.stores.jobs import JobStore, summary

if TYPE_CHECKING:
    from usersync_dev.local.sandbox import LocalSandbox

EXAMPLE_FILES = REPO_ROOT / "examples" / "files"


@dataclass
class FileRunStats:
    file_invocations: int = 0
    chunk_invocations: int = 0
    chunk_retries: int = 0


class LocalFiles:
    def __init__(self, sandbox: LocalSandbox):
        self.sandbox = sandbox

    @property
    def bucket(self) -> str:
        return self.sandbox.resources["IngestBucket"]["name"]

    @property
    def s3(self) -> Any:
        return self.sandbox.stack.client("s3")

    def upload(self, key: str, body: bytes | str | Path) -> str | None:
        """Puts the object (S3 notifies FileEventsQueue); returns its VersionId."""
        if isinstance(body, Path):
            body = body.read_bytes()
        if isinstance(body, str):
            body = body.encode("utf-8")
        return self.s3.put_object(Bucket=self.bucket, Key=key, Body=body).get("VersionId")

    def upload_file(self, key: str, path: Path) -> str | None:
        """A large file, streamed from disk (multipart above 8 MB, as the AWS CLI does)."""
        self.s3.upload_file(str(path), self.bucket, key)
        return self.s3.head_object(Bucket=self.bucket, Key=key).get("VersionId")

    def file_pump(self) -> SqsEventPump:
        return SqsEventPump(self.sandbox.stack.client("sqs"), self.sandbox.queue_url("FileEventsQueue"),
                            self.sandbox.handler("ingest_file"), function_name="usersync-ingest-file",
                            batch_size=1, timeout_s=900)

    def chunk_pump(self) -> SqsEventPump:
        return SqsEventPump(self.sandbox.stack.client("sqs"), self.sandbox.queue_url("ChunkQueue"),
                            self.sandbox.handler("deliver_chunk"), function_name="usersync-deliver-chunk",
                            batch_size=1, timeout_s=120)

    def run(self, max_rounds: int = 100) -> FileRunStats:
        """File events, then chunk jobs, until both queues are empty (as the two functions would)."""
        stats = FileRunStats()
        files, chunks = self.file_pump(), self.chunk_pump()
        for _ in range(max_rounds):
            before = (files.stats.invocations, chunks.stats.invocations)
            files.drain()
            chunks.drain(max_invocations=100_000)
            if (files.stats.invocations, chunks.stats.invocations) == before:
                break
        stats.file_invocations, stats.chunk_invocations = files.stats.invocations, chunks.stats.invocations
        stats.chunk_retries = chunks.stats.failed_messages
        return stats

    # --- what happened ----------------------------------------------------------------------

    def jobs(self) -> JobStore:
        return JobStore(self.sandbox.resources["StateTable"]["name"], self.sandbox.stack.client("dynamodb"))

    def job(self, key: str) -> dict[str, Any] | None:
        """The newest job of `key`, as the report and the CLI show it."""
        items = self.jobs().jobs_of(self.bucket, key)
        return summary(items[0]) if items else None

    def report(self, key: str) -> dict[str, Any] | None:
        job = self.job(key)
        if not job or not job["report"]:
            return None
        return json.loads(self.s3.get_object(Bucket=self.bucket, Key=job["report"])["Body"].read())

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def example_files() -> list[Path]:
    """The sample files `make demo` uploads (examples/files/)."""
    return sorted(p for p in EXAMPLE_FILES.iterdir() if p.is_file()) if EXAMPLE_FILES.is_dir() else []


def demo_files(sandbox: LocalSandbox, console: Any) -> None:
    """`make demo`, files: uploads examples/files/ under incoming/, runs the file and chunk
    functions as Lambda would, and prints each file's report and its rejected rows."""
    from rich.table import Table

    paths = example_files()
    for path in paths:
        sandbox.files.upload(f"incoming/{path.name}", path)
    stats = sandbox.files.run()
    console.print(f"\n[bold]Files[/]: uploaded {len(paths)} sample files from examples/files/ to "
                  f"s3://{sandbox.files.bucket}/incoming/; S3 notified FileEventsQueue (moto). File function: "
                  f"{stats.file_invocations} invocations (one is S3's test event); chunk function: "
                  f"{stats.chunk_invocations} chunk jobs.")
    table = Table(title="File jobs (the report of each, under reports/)")
    for column in ("file", "state", "records", "rejected for all", "delivered / rejected per destination", "report"):
        table.add_column(column, overflow="fold")
    for path in paths:
        report = sandbox.files.report(f"incoming/{path.name}") or {}
        records = report.get("records", {})
        per_destination = ", ".join(f"{name} {c['delivered']}/{c['rejected']}"
                                    for name, c in report.get("destinations", {}).items())
        table.add_row(path.name, report.get("state", "?"), str(records.get("read", "")), str(records.get("rejected", "")),
                      per_destination or report.get("error") or "", sandbox.files.job(f"incoming/{path.name}")["report"])
    console.print(table)

    rows = [f for f in sandbox.failed_records() if f["source"].get("kind") == "s3"]
    table = Table(title=f"Rejected file rows in the failed-records queue: {len(rows)}, each with file, line and field")
    for column in ("file", "line", "destination", "code", "field", "reason"):
        table.add_column(column, overflow="fold")
    for envelope in sorted(rows, key=lambda e: (e["source"]["key"], e["source"]["line"], e["destination"] or "")):
        error = envelope["error"]
        table.add_row(envelope["source"]["key"].removeprefix("incoming/"), str(envelope["source"]["line"]),
                      envelope["destination"] or "(all)", error["code"], error.get("field", ""), error["message"])
    console.print(table)
    console.print("See a job with the CLI: usersync job incoming/04-with-bad-rows.csv (against a running local stack: "
                  "usersync run --keep).")
