"""The failed-records queue: one envelope per record that will not be delivered, with its reason."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import boto3

from usersync.failures import FailedRecord
from usersync.secrets import redact

SQS_BATCH_ENTRIES = 10
SQS_MAX_BATCH_BYTES = 256 * 1024   # per SendMessageBatch call, all entries together
MAX_RECORD_CHARS = 200_000         # a huge record is cut in the envelope, never dropped silently


class FailedRecordQueue:
    def __init__(self, queue_url: str, client: Any = None):
        self.queue_url = queue_url
        self._client = client or boto3.client("sqs")

    def send(self, failures: Sequence[FailedRecord]) -> None:
        """Raises if SQS did not take every envelope, so the caller retries rather than loses them."""
        entries, size = [], 0
        for failure in failures:
            body = _body(failure)
            body_bytes = len(body.encode())
            if entries and (len(entries) == SQS_BATCH_ENTRIES or size + body_bytes > SQS_MAX_BATCH_BYTES):
                self._send_batch(entries)
                entries, size = [], 0
            entries.append({"Id": str(len(entries)), "MessageBody": body})
            size += body_bytes
        if entries:
            self._send_batch(entries)

    def _send_batch(self, entries: list[dict[str, str]]) -> None:
        answer = self._client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
        if answer.get("Failed"):
            reasons = {f.get("Code") for f in answer["Failed"]}
            raise RuntimeError(f"failed-records queue refused {len(answer['Failed'])} envelopes: {sorted(reasons)}")


def _body(failure: FailedRecord) -> str:
    envelope = failure.envelope()
    body = json.dumps(envelope, ensure_ascii=False, default=str)
    if len(body) > MAX_RECORD_CHARS:
        envelope["record"] = {"truncated": True, "prefix": json.dumps(failure.raw, default=str)[:MAX_RECORD_CHARS // 2]}
        body = json.dumps(envelope, ensure_ascii=False, default=str)
    return redact(body)
