"""A chunk job: read one chunk of a file, deliver its records, record what reached where.

The chunk is the unit a retry repeats (`Source.unit` is `s3:<chunk id>`). When the delivery of a
chunk to a destination completes, a mark (with its tokens) is saved; a retry after a crash or a
vendor outage delivers only to the destinations without a mark, and reports invalid rows only
once. When every destination has its mark, the chunk's counts are added to the job exactly once
(a conditional UpdateItem), and the job's last chunk writes its report.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from usersync.delivery.destination import Destination
from usersync.failures import FailedRecord
from usersync.delivery.pipeline import DeliveryReport
from usersync.delivery.routing import targets
from usersync.delivery.throttle import Throttles
from usersync.ingest.chunk_jobs import ChunkJob
from usersync.ingest.reports import JobReports
from usersync.limits import DEFAULT_LIMITS, InputLimits
from usersync.observability import logger
from usersync.parsing.files import FileRejected, chunk_records
from usersync.records import Source, SourcedRecord, Unparsable
from usersync.stores.failed_records import FailedRecordQueue
from usersync.stores.jobs import DONE, FAILED, ROWS, ChunkMark, JobRef, JobStore, counters
from usersync.stores.objects import ObjectGone, ObjectStore
from usersync.stores.tokens import TokenStore
from usersync.work.deliver import Sync


class ChunkDeferred(Exception):
    """Some destinations did not take the chunk for a reason that may pass: SQS retries the chunk,
    and the retry skips the destinations that did."""


@dataclass(slots=True)
class ChunkOutcome:
    chunk_id: str
    delivered: dict[str, int]
    skipped: list[str]            # destinations already done by an earlier attempt
    retry: dict[str, str]         # destination -> reason
    job_state: str | None = None


class _FailureBuffer:
    """Holds Sync's failed records until we know which destinations will be retried: their
    failures are not sent now (the retry meets them again), as Sync does for SQS messages."""

    def __init__(self) -> None:
        self.failures: list[FailedRecord] = []

    def send(self, failures) -> None:
        self.failures.extend(failures)


class ChunkRunner:
    def __init__(self, destinations: Callable[[], Mapping[str, Destination]], tokens: TokenStore,
                 failed: FailedRecordQueue, jobs: JobStore, objects: ObjectStore, reports: JobReports,
                 ledger: Any = None, throttles: Throttles | None = None, limits: InputLimits = DEFAULT_LIMITS):
        self.destinations, self.tokens, self.failed, self.limits = destinations, tokens, failed, limits
        self.throttles = throttles or Throttles()
        self.jobs, self.objects, self.reports = jobs, objects, reports
        # The delivery ledger (per call, per unit = chunk, per destination): what a chunk retried after
        # a crash mid-delivery skips within a destination, e.g. an increment a vendor already applied.
        self.ledger = ledger

    def run_message(self, body: str, context: Any = None) -> ChunkOutcome:
        return self.run(ChunkJob.model_validate_json(body), context)

    def run(self, job: ChunkJob, context: Any = None) -> ChunkOutcome:
        """`context` (the Lambda context): vendor calls are retried only while they fit before the timeout."""
        ref = job.ref
        marks = self.jobs.chunk_marks(ref, job.index)
        configured = dict(self.destinations())
        pending = {name: d for name, d in configured.items() if name not in marks}
        outcome = ChunkOutcome(job.chunk_id, {}, sorted(n for n in configured if n in marks), {})
        if pending or ROWS not in marks:
            try:
                new_marks = self._deliver(job, marks, configured, pending, outcome, context)
            except (FileRejected, ObjectGone) as error:
                # The object changed or vanished under a running job: no retry can help.
                logger.error("chunk cannot be read", extra={"chunk": job.chunk_id, "reason": str(error)})
                self.reports.fail(ref, f"chunk {job.index} (line {job.first_line}): {error}")
                outcome.job_state = FAILED
                return outcome
            marks.update((m.destination, m) for m in new_marks)
            if outcome.retry:
                reasons = "; ".join(f"{d}: {r}" for d, r in sorted(outcome.retry.items()))
                raise ChunkDeferred(f"chunk {job.chunk_id} will be retried for {reasons}"[:1000])
        outcome.job_state = self._complete(job, marks)
        return outcome

    def _deliver(self, job: ChunkJob, marks: dict[str, ChunkMark], configured: dict[str, Destination],
                 pending: dict[str, Destination], outcome: ChunkOutcome, context: Any) -> list[ChunkMark]:
        first_attempt = ROWS not in marks
        text = self._read(job)
        chunk_id = job.chunk_id

        def source_at(line: int, ordinal: int) -> Source:
            return Source("s3", bucket=job.bucket, key=job.key, line=line, chunk=chunk_id, ordinal=ordinal)

        items = list(chunk_records(text, job.kind, first_line=job.first_line, source_at=source_at, header=job.header,
                                   limits=self.limits))
        read = len(items)
        if not first_attempt:
            items = [kept for kept in (_remaining(item, pending, configured) for item in items) if kept is not None]

        buffer = _FailureBuffer()
        report, _ = Sync(lambda: pending, self.tokens, buffer, ledger=self.ledger,
                         throttles=self.throttles).run(items, context)
        retry = {r.destination: r.reason for r in report.retries}
        outcome.retry = retry
        outcome.delivered = report.delivered
        self.failed.send([f for f in buffer.failures if f.destination not in retry])

        new_marks = [_destination_mark(name, report, buffer.failures) for name in pending if name not in retry]
        if first_attempt:
            new_marks.append(_rows_mark(read, buffer.failures, configured))
        self.jobs.save_marks(job.ref, job.index, new_marks)
        logger.info("chunk delivered", extra={
            "chunk": chunk_id, "rows": read, "delivered": report.delivered, "failed_records": len(buffer.failures),
            "skipped_destinations": outcome.skipped, "retry_destinations": sorted(retry)})
        return new_marks

    def _read(self, job: ChunkJob) -> str:
        if job.part:
            data = self.objects.read_range(job.bucket, job.part, None, job.start, job.end)
        else:
            data = self.objects.read_range(job.bucket, job.key, job.object_version, job.start, job.end)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise FileRejected(f"the chunk is not UTF-8 ({error.reason}): the object changed since it was planned") from None

    def _complete(self, job: ChunkJob, marks: dict[str, ChunkMark]) -> str | None:
        """Count the chunk into its job once; the job's last chunk writes the report."""
        ref = job.ref
        item = self.jobs.complete_chunk(ref, job.index, counters(list(marks.values())))
        if item is None:  # counted by an earlier attempt: make sure that attempt's work was finished
            item = self.jobs.get(ref) or {}
        if job.part:
            self.objects.delete(job.bucket, job.part)
        state = item.get("state")
        if state not in (DONE, FAILED) and int(item.get("chunks_done", 0)) >= int(item.get("chunks_total", job.of)):
            report = self.reports.finish(ref)
            logger.info("file done", extra={"job": ref.job_id, "records": report["records"]})
            return DONE
        return state


def _remaining(item: SourcedRecord | Unparsable, pending: Mapping[str, Destination],
               configured: Mapping[str, Destination]) -> SourcedRecord | None:
    """On a retry: the item for the destinations still to do, or None if it has none left.
    Invalid rows were reported by the first attempt."""
    if isinstance(item, Unparsable):
        return None
    record = item.record
    named = targets(record, configured)
    left = tuple(name for name in named if name in pending)
    if not left:
        return None
    if left == named:
        return item
    return dataclasses.replace(item, record=record.model_copy(update={"destinations": left}))


def _destination_mark(name: str, report: DeliveryReport, failures: list[FailedRecord]) -> ChunkMark:
    mine = [f for f in failures if f.destination == name]
    return ChunkMark(
        destination=name, delivered=report.delivered.get(name, 0), rejected=len(mine),
        codes=dict(Counter(f.code for f in mine)),
        tokens=[d.token for d in report.deliveries if d.destination == name and d.token])


def _rows_mark(read: int, failures: list[FailedRecord], configured: Mapping[str, Destination]) -> ChunkMark:
    """Rows rejected for every destination (invalid, or no destination for them), and rejections
    for destinations that are not configured."""
    everywhere = [f for f in failures if f.destination is None]
    elsewhere = [f for f in failures if f.destination is not None and f.destination not in configured]
    return ChunkMark(
        destination=ROWS, read=read, rejected=len(everywhere),
        codes=dict(Counter(f.code for f in everywhere + elsewhere)),
        others=dict(Counter(f.destination for f in elsewhere)))
