"""The file function's work: an S3 notification -> a job -> one streaming pass -> chunk jobs.

Each object version is ingested once however often S3 notifies it (Powertools Idempotency,
keyed on bucket + key + versionId). The pass refuses a file that cannot be read as a whole
(type, encoding, header) before anything is delivered, and plans chunks that the chunk function
delivers in parallel, each retried on its own.
"""

from __future__ import annotations

import gzip
import zlib
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer, IdempotencyConfig, idempotent_function,
)

from usersync.delivery.checkpoints import Checkpoints
from usersync.ingest.chunk_jobs import ChunkJob, chunk_message
from usersync.ingest.notifications import (
    NotANotification, ObjectVersion, objects_in_message, objects_in_notification,
)
from usersync.ingest.planning import plan_file
from usersync.ingest.reports import JobReports
from usersync.limits import human_size
from usersync.settings import IngestFileSettings
from usersync.observability import logger
from usersync.parsing.files import FileFormat, FileRejected
from usersync.stores.chunk_queue import ChunkQueue
from usersync.stores.jobs import PLANNING, JobRef, JobStore
from usersync.stores.objects import ObjectGone, ObjectStore

# S3 delivers a notification at least once, sometimes hours apart; a key is kept this long.
IDEMPOTENCY_SECONDS = 7 * 24 * 3600


class FileIngest:
    def __init__(self, settings: IngestFileSettings, objects: ObjectStore, jobs: JobStore, chunks: ChunkQueue,
                 reports: JobReports, idempotency: tuple[DynamoDBPersistenceLayer, IdempotencyConfig] | None = None,
                 checkpoints: Checkpoints | None = None):
        self.settings, self.objects, self.jobs, self.chunks, self.reports = settings, objects, jobs, chunks, reports
        self.checkpoints = checkpoints or Checkpoints()
        self.idempotency_config = idempotency[1] if idempotency else None
        if idempotency:
            persistence, config = idempotency
            self._ingest_once = idempotent_function(
                data_keyword_argument="request", persistence_store=persistence, config=config)(self._ingest)
        else:
            self._ingest_once = self._ingest

    def register_lambda_context(self, context: Any) -> None:
        """So an invocation that times out does not leave its objects 'in progress' for good."""
        if self.idempotency_config is not None:
            self.idempotency_config.register_lambda_context(context)

    def ingest_message(self, body: str) -> list[dict[str, Any]]:
        """Every object of one S3 notification, as SQS carries it (none for s3:TestEvent)."""
        return self._ingest_all(objects_in_message(body))

    def ingest_notification(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        """Every object of an S3 event given as is (S3 invoking the function, or a person testing it).
        No queue is there to retry it: what cannot be ingested is answered, not raised."""
        try:
            return self._ingest_all(objects_in_notification(event))
        except NotANotification as error:
            logger.warning("not an S3 event notification", extra={"reason": str(error)})
            return [{"error": str(error)}]

    def _ingest_all(self, versions: list[ObjectVersion]) -> list[dict[str, Any]]:
        results = []
        for version in versions:
            if not version.key.startswith(self.settings.ingest_prefix):
                # The bucket notification filters on the prefix; this guards a misconfigured one.
                logger.warning("object outside the ingest prefix ignored",
                               extra={"key": version.key, "prefix": self.settings.ingest_prefix})
                continue
            results.append(self._ingest_once(request=version.idempotency_data(), version=version))
        return results

    def _ingest(self, request: dict[str, str], version: ObjectVersion) -> dict[str, Any]:
        ref = JobRef(version.bucket, version.key, version.identity)
        where = version.describe()
        try:
            fmt = FileFormat.of_key(version.key)
        except FileRejected as error:
            return self._refuse(ref, version, str(error), None)
        try:
            head = self.objects.head(version.bucket, version.key, version.version_id)
        except ObjectGone as error:
            return self._refuse(ref, version, str(error), fmt)
        limits = self.settings.input_limits()
        if not fmt.gzip and head["size"] > limits.max_file_bytes:  # refused before a byte is read
            return self._refuse(ref, version, f"{where} holds more than {human_size(limits.max_file_bytes)} "
                                "(MAX_FILE_BYTES): split it into smaller files", fmt)
        item, created = self.jobs.create(ref, version_id=head["version_id"], etag=head["etag"], size=head["size"],
                                         format=fmt.kind + (".gz" if fmt.gzip else ""))
        if not created and item.get("state") != PLANNING:
            logger.info("file already ingested", extra={"job": ref.job_id, "state": item.get("state")})
            return {"job": ref.job_id, "state": item.get("state"), "duplicate": True}

        stream = self.objects.stream(version.bucket, version.key, head["version_id"], gzip=fmt.gzip)
        write_part, parts = None, []
        if fmt.gzip:
            def write_part(index: int, data: bytes) -> str:
                parts.append(self.objects.put(version.bucket, self._part_key(ref, index), data, "text/plain"))
                return parts[-1]
        try:
            plan = plan_file(stream, fmt, where, rows_per_chunk=self.settings.rows_per_chunk,
                             max_chunk_bytes=self.settings.max_chunk_bytes, write_part=write_part,
                             limits=limits, compressed_bytes=head["size"])
        except (FileRejected, gzip.BadGzipFile, EOFError, zlib.error) as error:
            for part in parts:  # a refused file leaves nothing behind
                self.objects.delete(version.bucket, part)
            if not isinstance(error, FileRejected):
                error = f"{where} is not a valid gzip file ({error})"
            return self._refuse(ref, version, str(error), fmt)
        finally:
            stream.close()

        self.jobs.planned(ref, chunks=len(plan.chunks), rows=plan.rows, lines=plan.lines,
                          content_bytes=plan.content_bytes, kind=plan.kind)
        if not plan.chunks:
            report = self.reports.finish(ref)
            return {"job": ref.job_id, "state": report["state"], "chunks": 0}
        self.chunks.send([chunk_message(ChunkJob(
            bucket=ref.bucket, key=ref.key, job_version=ref.version, object_version=head["version_id"],
            index=c.index, of=len(plan.chunks), start=c.start, end=c.end, first_line=c.first_line, rows=c.rows,
            part=c.part, kind=c.kind or plan.kind, header=plan.header,
        )) for c in plan.chunks], between=lambda: self.checkpoints.reach("between_chunk_enqueues"))
        self.jobs.running(ref)
        logger.info("file planned", extra={"job": ref.job_id, "rows": plan.rows, "chunks": len(plan.chunks),
                                           "bytes": plan.content_bytes, "format": fmt.kind, "gzip": fmt.gzip})
        return {"job": ref.job_id, "state": "RUNNING", "chunks": len(plan.chunks), "rows": plan.rows}

    def _part_key(self, ref: JobRef, index: int) -> str:
        return f"{self.settings.work_prefix}{ref.key.removeprefix(self.settings.ingest_prefix)}/{ref.version}/{index:06d}.part"

    def _refuse(self, ref: JobRef, version: ObjectVersion, error: str, fmt: FileFormat | None) -> dict[str, Any]:
        logger.warning("file refused", extra={"job": ref.job_id, "reason": error})
        self.jobs.create(ref, version_id=version.version_id, etag=version.etag, size=version.size,
                         format=(fmt.kind + (".gz" if fmt.gzip else "")) if fmt else None)
        report = self.reports.fail(ref, error)
        return {"job": ref.job_id, "state": report["state"], "error": error}
