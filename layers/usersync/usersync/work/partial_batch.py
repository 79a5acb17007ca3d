"""SQS partial batch responses (ReportBatchItemFailures): each message of Lambda's SQS event is
handled on its own, and the response names those whose handling raised, so SQS retries them alone.

What Powertools' BatchProcessor does for SQS (raise_on_entire_batch_failure=False: a batch whose
every message failed is answered the same way), without importing it: its module loads Powertools'
parser models, about 0.1 s of each cold start."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from usersync.secrets import RedactingFilter

# As Powertools' BatchProcessor does, each failure is logged at DEBUG on a library logger outside
# usersync's (whose level is LOG_LEVEL): seen where the root logger is at DEBUG (local runs, tests).
# The functions' own log lines already count the messages they hand back.
_failures = logging.getLogger("partial_batch_response")
_failures.addFilter(RedactingFilter())


class SqsMessage:
    """One record of Lambda's SQS event, as a record handler reads it."""

    __slots__ = ("raw",)

    def __init__(self, raw: dict[str, Any]):
        self.raw = raw

    @property
    def message_id(self) -> str:
        return self.raw["messageId"]

    @property
    def body(self) -> str:
        return self.raw["body"]

    @property
    def receive_count(self) -> int:
        """SQS's ApproximateReceiveCount: 1 the first time the message is handed out."""
        return int(self.raw["attributes"]["ApproximateReceiveCount"])


def partial_batch_response(event: dict[str, Any], handle: Callable[[SqsMessage], Any]) -> dict[str, list]:
    """`handle` each message of `event` in turn; `{"batchItemFailures": [...]}` names each one it raised for."""
    records = event.get("Records")
    if not records or not isinstance(records, list):
        raise ValueError("not an SQS event: it has no Records")
    failures = []
    for record in records:
        message = SqsMessage(record)
        try:
            handle(message)
        except Exception as error:  # noqa: BLE001 - the message is retried by SQS, the others go on
            _failures.debug("message %s handed back to SQS: %s: %s", message.message_id, type(error).__name__, error)
            failures.append({"itemIdentifier": message.message_id})
    return {"batchItemFailures": failures}
