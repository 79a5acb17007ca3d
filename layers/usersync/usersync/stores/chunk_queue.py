"""The chunk queue: one message per chunk job, sent in batches of 10 (the SQS limit)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import boto3

SQS_BATCH_ENTRIES = 10


class ChunkQueue:
    def __init__(self, queue_url: str, client: Any = None):
        self.queue_url = queue_url
        self._client = client or boto3.client("sqs")

    def send(self, bodies: Sequence[str], between: Callable[[], None] = lambda: None) -> None:
        """Raises unless SQS took every message, so the file job is retried rather than left short.
        `between` runs between two batches (a checkpoint)."""
        for start in range(0, len(bodies), SQS_BATCH_ENTRIES):
            if start:
                between()
            entries = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies[start:start + SQS_BATCH_ENTRIES])]
            answer = self._client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            if answer.get("Failed"):
                reasons = sorted({f.get("Code", "?") for f in answer["Failed"]})
                raise RuntimeError(f"the chunk queue refused {len(answer['Failed'])} chunk jobs: {reasons}")
