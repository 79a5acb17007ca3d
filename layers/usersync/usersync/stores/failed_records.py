"""The failed-records queue: one envelope per record that will not be delivered, with its reason.

Every envelope fits an SQS message, counted in bytes as SQS counts them: a record too large for
its envelope is written to S3 (RecordOverflow) and the envelope points to it (`record_s3`). Text
SQS cannot carry (a lone surrogate, U+FFFE/U+FFFF) is sent \\u-escaped, never dropped.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

import boto3

from usersync.failures import FailedRecord
from usersync.secrets import redact

SQS_BATCH_ENTRIES = 10
SQS_MAX_BATCH_BYTES = 256 * 1024   # per SendMessageBatch call, all entries together
MAX_ENVELOPE_BYTES = 256 * 1024    # FailedRecordsQueue's MaximumMessageSize (template.yaml), in bytes
# What SQS refuses in a message (XML 1.0 excludes them; control characters are always escaped by json).
_NOT_FOR_SQS = re.compile("[\ud800-\udfff\ufffe\uffff]")


def to_json(value: Any) -> str:
    """JSON for SQS and S3: UTF-8 where it can be, \\u escapes where it cannot."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    if _NOT_FOR_SQS.search(text):
        text = json.dumps(value, ensure_ascii=True, default=str)
    return redact(text)


class RecordOverflow:
    """Records too large for their envelope, one object each under `prefix` of the ingest bucket
    (outside the ingest prefix: never ingested; expired by the bucket's lifecycle rule)."""

    def __init__(self, bucket: str, prefix: str, client: Any = None):
        self.bucket, self.prefix = bucket, prefix
        self._client = client or boto3.client("s3")

    def put(self, failure: FailedRecord, record_json: bytes) -> dict[str, Any]:
        # Named by what failed where: a retry writing the same failure overwrites, never duplicates.
        identity = json.dumps([failure.source.as_dict(), failure.destination, str(failure.code)], sort_keys=True)
        digest = hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        key = f"{self.prefix}{failure.failed_at[:10]}/{digest}.json"
        self._client.put_object(Bucket=self.bucket, Key=key, Body=record_json, ContentType="application/json")
        return {"bucket": self.bucket, "key": key, "bytes": len(record_json)}


class FailedRecordQueue:
    def __init__(self, queue_url: str, client: Any = None, overflow: RecordOverflow | None = None):
        self.queue_url = queue_url
        self._client = client or boto3.client("sqs")
        self.overflow = overflow

    def send(self, failures: Sequence[FailedRecord]) -> None:
        """Raises if SQS did not take every envelope, so the caller retries rather than loses them."""
        entries, size = [], 0
        for failure in failures:
            body = self.body(failure)
            body_bytes = len(body.encode())
            if entries and (len(entries) == SQS_BATCH_ENTRIES or size + body_bytes > SQS_MAX_BATCH_BYTES):
                self._send_batch(entries)
                entries, size = [], 0
            entries.append({"Id": str(len(entries)), "MessageBody": body})
            size += body_bytes
        if entries:
            self._send_batch(entries)

    def body(self, failure: FailedRecord) -> str:
        """The envelope as the queue's message body: at most MAX_ENVELOPE_BYTES of UTF-8."""
        envelope = failure.envelope()
        body = to_json(envelope)
        if len(body.encode()) <= MAX_ENVELOPE_BYTES:
            return body
        record = to_json(failure.raw).encode()
        if self.overflow is not None:
            envelope["record"] = None
            envelope["record_s3"] = self.overflow.put(failure, record)
        else:  # nowhere to put it: its start, marked (replay refuses it and says why)
            envelope["record"] = {"truncated": True, "prefix": ""}
            room = MAX_ENVELOPE_BYTES - len(to_json(envelope).encode())
            # json escapes may double a character's bytes (" -> \"): halve until it fits.
            prefix = record[: room // 2].decode("utf-8", "ignore")
            while len(to_json(prefix).encode()) > room:
                prefix = prefix[: len(prefix) // 2]
            envelope["record"]["prefix"] = prefix
        return to_json(envelope)

    def _send_batch(self, entries: list[dict[str, str]]) -> None:
        answer = self._client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
        if answer.get("Failed"):
            reasons = {f.get("Code") for f in answer["Failed"]}
            raise RuntimeError(f"failed-records queue refused {len(answer['Failed'])} envelopes: {sorted(reasons)}")
