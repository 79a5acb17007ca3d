"""Runs the real Lambda handlers locally, the way the Lambda SQS poller would.

Receives from an SQS queue (moto server), builds the exact event Lambda delivers, calls the
handler with a Lambda context, deletes the messages that succeeded and leaves the failed ones
to the visibility timeout and the queue's redrive policy. No Docker, no `sam local`.
"""

from __future__ import annotations

import gc
import hashlib
import importlib.util
import logging
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[3]
log = logging.getLogger(__name__)
FUNCTIONS_DIR = REPO_ROOT / "functions"


@dataclass
class LocalLambdaContext:
    """The attributes of the Lambda context object that handlers and Powertools read."""
    function_name: str
    timeout_s: float = 60.0
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    _started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_s - (time.monotonic() - self._started)) * 1000))


def load_function(function: str, module_name: str = "app") -> ModuleType:
    """Imports functions/<function>/app.py as Lambda does (its folder is the code root): a cold start.
    Import it after setting the environment: handlers read it at cold start."""
    # Lambda runs each instance in its own process; here they share one. A handler freezes what its
    # cold start made (gc.freeze in app.py): given back to the collector first, or every instance
    # loaded before (its clients, its boto3 session's models) would stay in memory for good.
    gc.unfreeze()
    gc.collect()
    path = FUNCTIONS_DIR / function / f"{module_name}.py"
    spec = importlib.util.spec_from_file_location(f"usersync_function_{function}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def load_handler(function: str, handler: str = "app.handler") -> Callable[[dict, Any], Any]:
    module_name, attribute = handler.rsplit(".", 1)
    return getattr(load_function(function, module_name), attribute)


def _message_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    # Lambda spells SQS message attributes in camelCase, unlike the SQS API.
    return {
        name: {
            "stringValue": value.get("StringValue"), "binaryValue": value.get("BinaryValue"),
            "stringListValues": [], "binaryListValues": [], "dataType": value["DataType"],
        }
        for name, value in attributes.items()
    }


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda's SQS poller delivers, from messages as ReceiveMessage returns them."""
    return {"Records": [
        {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": m.get("Attributes", {}),
            "messageAttributes": _message_attributes(m.get("MessageAttributes", {})),
            "md5OfBody": m.get("MD5OfBody") or hashlib.md5(m["Body"].encode()).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": region,
        }
        for m in messages
    ]}


@dataclass
class PumpStats:
    invocations: int = 0
    messages: int = 0
    failed_messages: int = 0
    handler_errors: int = 0


class SqsEventPump:
    """Feeds one queue to one handler until the queue is empty (or `max_invocations`)."""

    def __init__(self, sqs: Any, queue_url: str, handler: Callable[[dict, Any], Any], *,
                 function_name: str, batch_size: int = 10, timeout_s: float = 60.0,
                 retry_immediately: bool = True):
        self.sqs, self.queue_url, self.handler = sqs, queue_url, handler
        self.function_name, self.batch_size, self.timeout_s = function_name, batch_size, timeout_s
        # Locally we skip the wait for the visibility timeout: a failed message comes back at once.
        self.retry_immediately = retry_immediately
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
        self.queue_arn = attributes["QueueArn"]
        self.region = self.queue_arn.split(":")[3]
        self.stats = PumpStats()

    def run_once(self) -> int:
        """One poll and one invocation; returns how many messages it carried."""
        answer = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=self.batch_size, WaitTimeSeconds=0,
            AttributeNames=["All"], MessageAttributeNames=["All"],
        )
        messages = answer.get("Messages", [])
        if not messages:
            return 0
        event = sqs_event(messages, self.queue_arn, self.region)
        context = LocalLambdaContext(self.function_name, timeout_s=self.timeout_s)
        self.stats.invocations += 1
        self.stats.messages += len(messages)
        try:
            response = self.handler(event, context) or {}
            failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        except Exception:  # noqa: BLE001 - Lambda would retry the whole batch; so do we
            log.exception("%s failed: its %d messages stay in the queue", self.function_name, len(messages))
            self.stats.handler_errors += 1
            failed = {m["MessageId"] for m in messages}
        self.stats.failed_messages += len(failed)
        for message in messages:
            if message["MessageId"] not in failed:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
            elif self.retry_immediately:
                self.sqs.change_message_visibility(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
        return len(messages)

    def drain(self, max_invocations: int = 1000) -> PumpStats:
        for _ in range(max_invocations):
            if not self.run_once():
                break
        return self.stats
