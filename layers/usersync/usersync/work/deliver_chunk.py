"""A chunk job: read one chunk of a file, deliver its records, count the chunk into its job once.

The chunk is the unit a retry repeats (`Source.unit` is `s3:<chunk id>`, a record's position its
ordinal in the chunk). The delivery service and its ledger make a retry skip what an earlier
attempt delivered or reported, per record and destination. When nothing is left to retry, the
chunk's counts are read from the ledger (so they hold every attempt's work, counted once) and added
to the job exactly once (a conditional UpdateItem); the job's last chunk writes its report. On the
last attempt SQS allows, what is still undelivered goes to the failed-records queue (retryable)
and the chunk ends: a file's job always ends.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from usersync.delivery.checkpoints import Checkpoints
from usersync.delivery.ledger import EVERY, NO_PROGRESS, Progress
from usersync.delivery.plan import Retry
from usersync.delivery.routing import targets
from usersync.delivery.service import DeliveryService
from usersync.failures import FailedRecord, FailureCode
from usersync.ingest.chunk_jobs import DEFAULT_MAX_RECEIVES, ChunkJob
from usersync.ingest.reports import JobReports
from usersync.limits import DEFAULT_LIMITS, InputLimits
from usersync.observability import logger
from usersync.parsing.files import FileRejected, chunk_records
from usersync.records import Source, SourcedRecord, Unparsable, s3_source
from usersync.stores.jobs import DONE, FAILED, ROWS, ChunkMark, JobStore, counters
from usersync.stores.objects import ObjectGone, ObjectStore
from usersync.work.collector import collector_paused


class ChunkDeferred(Exception):
    """Some records did not reach a destination for a reason that may pass: SQS retries the chunk,
    and the retry skips what is done."""


@dataclass(slots=True)
class ChunkOutcome:
    chunk_id: str
    delivered: dict[str, int]
    retry: dict[str, str]         # destination -> reason
    job_state: str | None = None


def gave_up(retry: Retry, attempts: int) -> FailedRecord:
    return FailedRecord(
        retry.item.raw, retry.item.source, retry.destination, FailureCode.VENDOR_UNAVAILABLE,
        f"{retry.destination} stayed unavailable through {attempts} attempts of this chunk ({retry.reason}): "
        "replay the record once the vendor is back", retryable=True)


class ChunkRunner:
    def __init__(self, delivery: DeliveryService, jobs: JobStore, objects: ObjectStore, reports: JobReports, *,
                 max_receives: int = DEFAULT_MAX_RECEIVES, checkpoints: Checkpoints | None = None,
                 limits: InputLimits = DEFAULT_LIMITS):
        self.delivery, self.jobs, self.objects, self.reports = delivery, jobs, objects, reports
        # shares the delivery's checkpoints: one set per function instance
        self.max_receives, self.checkpoints = max_receives, checkpoints or delivery.checkpoints
        self.limits = limits

    def run_message(self, body: str, context: Any = None, receive_count: int = 1) -> ChunkOutcome:
        return self.run(ChunkJob.model_validate_json(body), context, receive_count)

    def run(self, job: ChunkJob, context: Any = None, receive_count: int = 1) -> ChunkOutcome:
        """`context` (the Lambda context): vendor calls are retried only while they fit before the timeout.
        `receive_count`: SQS's ApproximateReceiveCount of the chunk's message (the last one gives up)."""
        outcome = ChunkOutcome(job.chunk_id, {}, {})
        try:
            text = self._read(job)
        except (FileRejected, ObjectGone) as error:
            # The object changed or vanished under a running job: no retry can help.
            logger.error("chunk cannot be read", extra={"chunk": job.chunk_id, "reason": str(error)})
            self.reports.fail(job.ref, f"chunk {job.index} (line {job.first_line}): {error}")
            outcome.job_state = FAILED
            return outcome

        def source_at(line: int, ordinal: int) -> Source:
            return s3_source(job.bucket, job.key, line, job.chunk_id, ordinal)

        with collector_paused():  # the chunk's records stay alive until it is done: nothing for it to find
            items = list(chunk_records(text, job.kind, first_line=job.first_line, source_at=source_at,
                                       header=job.header, limits=self.limits))
            report = self.delivery.deliver(items, context)
        outcome.delivered, outcome.retry = report.delivered, {r.destination: r.reason for r in report.retries}
        logger.info("chunk delivered", extra={
            "chunk": job.chunk_id, "rows": len(items), "delivered": report.delivered,
            "failed_records": len(report.failed), "already_delivered": report.already_delivered,
            "retry_destinations": sorted(outcome.retry)})
        if report.retries:
            if receive_count < self.max_receives:
                reasons = "; ".join(f"{d}: {r}" for d, r in sorted(outcome.retry.items()))
                raise ChunkDeferred(f"chunk {job.chunk_id} will be retried for {reasons}"[:1000])
            self.delivery.report_failures([gave_up(retry, receive_count) for retry in report.retries])
        self.checkpoints.reach("before_chunk_counted")
        outcome.job_state = self._complete(job, items)
        return outcome

    def _read(self, job: ChunkJob) -> str:
        if job.part:
            data = self.objects.read_range(job.bucket, job.part, None, job.start, job.end)
        else:
            data = self.objects.read_range(job.bucket, job.key, job.object_version, job.start, job.end)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise FileRejected(f"the chunk is not UTF-8 ({error.reason}): the object changed since it was planned") from None

    def _complete(self, job: ChunkJob, items: list[SourcedRecord | Unparsable]) -> str | None:
        """Count the chunk into its job once, from the ledger; the job's last chunk writes the report."""
        ref = job.ref
        marks = self._marks(job, items)
        self.jobs.save_marks(ref, job.index, marks)
        item = self.jobs.complete_chunk(ref, job.index, counters(marks))
        if item is None:  # counted by an earlier attempt: make sure that attempt's work was finished
            item = self.jobs.get(ref) or {}
        if job.part:
            self.objects.delete(job.bucket, job.part)
        state = item.get("state")
        if state not in (DONE, FAILED) and int(item.get("chunks_done", 0)) >= int(item.get("chunks_total", job.of)):
            document = self.reports.finish(ref)
            logger.info("file done", extra={"job": ref.job_id, "records": document["records"]})
            return DONE
        return state

    def _marks(self, job: ChunkJob, items: list[SourcedRecord | Unparsable]) -> list[ChunkMark]:
        """What the chunk did at each destination and with its rows, every attempt included: the
        ledger's accepted and reported records of the chunk."""
        configured = self.delivery.destinations()
        names = {name for item in items if isinstance(item, SourcedRecord) for name in targets(item.record, configured)}
        unit = f"s3:{job.chunk_id}"
        progress = self.delivery.ledger.read([(unit, name) for name in sorted(names | {EVERY})])
        rows = progress.get((unit, EVERY), NO_PROGRESS)
        codes = Counter(_codes(rows))
        others: dict[str, int] = {}
        marks = []
        for name in sorted(names):
            known = progress.get((unit, name), NO_PROGRESS)
            if name not in configured:  # rejected as UNKNOWN_DESTINATION: counted with the rows
                others[name] = len(known.settled)
                codes.update(_codes(known))
                continue
            marks.append(ChunkMark(destination=name, delivered=len(known.accepted - known.settled),
                                   rejected=len(known.settled), codes=_codes(known), tokens=sorted(known.tokens)))
        marks.append(ChunkMark(destination=ROWS, read=len(items), rejected=len(rows.settled), codes=dict(codes),
                               others=others))
        return marks


def _codes(progress: Progress) -> dict[str, int]:
    return {code: len(positions) for code, positions in progress.codes}
