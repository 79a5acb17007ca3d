"""The deliver function's work: SQS messages -> records -> vendors -> tokens, failed records, retries.

Records from all messages of a Lambda batch are delivered together, so calls carry as many
records as the vendors allow. A message is handed back to SQS (partial batch response) only
when one of its records met a failure worth retrying.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from usersync.delivery.destination import Destination
from usersync.delivery.ledger import DeliveryLedger
from usersync.delivery.pipeline import DeliveryOptions, DeliveryReport, deliver, uncertain_entries
from usersync.delivery.retries import Deadline
from usersync.delivery.throttle import Throttles
from usersync.limits import DEFAULT_LIMITS, InputLimits
from usersync.observability import logger, metrics
from usersync.parsing.messages import records_in_message
from usersync.stores.failed_records import FailedRecordQueue
from usersync.stores.tokens import TokenStore

# A message `usersync replay` moved back from WorkDeadLetterQueue names its first message id here:
# the ledger knows the unit by that id, so what was delivered before is not sent again.
ORIGINAL_MESSAGE_ID = "usersync-original-message-id"


class DeliveryDeferred(Exception):
    """Raised for a message whose records will be retried by SQS."""


@dataclass(slots=True)
class SyncOutcome:
    report: DeliveryReport
    retry_message_ids: set[str]

    def check(self, record: Any) -> None:
        """Powertools BatchProcessor record handler: fail exactly the messages to retry."""
        if record.message_id in self.retry_message_ids:
            reasons = {r.reason for r in self.report.retries if r.item.source.message_id == record.message_id}
            raise DeliveryDeferred("; ".join(sorted(reasons))[:500])


class Sync:
    def __init__(self, destinations: Callable[[], Mapping[str, Destination]], tokens: TokenStore,
                 failed: FailedRecordQueue, *, ledger: DeliveryLedger | None = None,
                 throttles: Throttles | None = None, limits: InputLimits = DEFAULT_LIMITS):
        self._destinations, self.tokens, self.failed, self.limits = destinations, tokens, failed, limits
        # Pacing learnt from the vendors (429s) outlives one invocation: the composition root gives
        # the function one Throttles for its lifetime.
        self.ledger, self.throttles = ledger, throttles or Throttles()

    def run(self, items: Iterable, context: Any = None) -> tuple[DeliveryReport, set[str]]:
        """Deliver parsed items; store tokens and failures. Returns the report and the source
        message ids to retry (their failures are not sent: the retry will meet them again).
        `context` (the Lambda context) gives the deadline calls must fit in and the invocation id."""
        options = DeliveryOptions(ledger=self.ledger, deadline=Deadline.from_context(context),
                                  throttles=self.throttles,
                                  owner=getattr(context, "aws_request_id", None) or str(uuid.uuid4()))
        report = deliver(items, self._destinations(), options)
        retry_ids = {r.item.source.message_id for r in report.retries}
        self.tokens.save_all(report.deliveries)
        failed = [f for f in report.failed if f.source.message_id not in retry_ids or f.source.message_id is None]
        self.failed.send(failed)
        if self.ledger is not None and (settled := uncertain_entries(failed)):
            self.ledger.update(settled=settled)
        _count(report, failed)
        return report, retry_ids

    def deliver_messages(self, messages: list[dict[str, Any]], context: Any = None) -> SyncOutcome:
        # A replayed message is known by its first id (the ledger's unit); map back to this one.
        receipts: dict[str, set[str]] = defaultdict(set)
        items = []
        for m in messages:
            original = (m.get("messageAttributes") or {}).get(ORIGINAL_MESSAGE_ID, {}).get("stringValue")
            receipts[original or m["messageId"]].add(m["messageId"])
            items.extend(records_in_message(original or m["messageId"], m["body"], self.limits))
        report, source_ids = self.run(items, context)
        retry_ids = {message_id for source_id in source_ids for message_id in receipts.get(source_id, {source_id})}
        logger.info("delivered messages", extra={
            "messages": len(messages), "records": len(items), "delivered": report.delivered,
            "validated_by_dry_run": report.validated,
            "failed_records": len(report.failed), "messages_to_retry": len(retry_ids),
        })
        return SyncOutcome(report, retry_ids)


def _count(report: DeliveryReport, failed: list) -> None:
    metrics.add_metric(name="RecordsDelivered", unit=MetricUnit.Count, value=sum(report.delivered.values()))
    metrics.add_metric(name="RecordsFailed", unit=MetricUnit.Count, value=len(failed))
    metrics.add_metric(name="RecordsRetried", unit=MetricUnit.Count, value=len(report.retries))
    _count_per_destination(report, failed)


def _count_per_destination(report: DeliveryReport, failed: list) -> None:
    """One EMF blob per destination (dimension `destination`): records delivered, rejected and
    retried, vendor calls by outcome, and each call's latency."""
    rejected: dict[str, int] = defaultdict(int)
    for failure in failed:
        if failure.destination:
            rejected[failure.destination] += 1
    retried: dict[str, int] = defaultdict(int)
    for retry in report.retries:
        retried[retry.destination] += 1
    calls: dict[str, list] = defaultdict(list)
    for call in report.calls:
        calls[call.destination].append(call)
    delivered = report.delivered
    for name in sorted(set(delivered) | set(rejected) | set(retried) | set(calls)):
        blob = EphemeralMetrics(namespace=metrics.namespace, service=metrics.service)
        blob.add_dimension(name="destination", value=name)
        blob.add_metric(name="RecordsDelivered", unit=MetricUnit.Count, value=delivered.get(name, 0))
        blob.add_metric(name="RecordsRejected", unit=MetricUnit.Count, value=rejected.get(name, 0))
        blob.add_metric(name="RecordsRetried", unit=MetricUnit.Count, value=retried.get(name, 0))
        blob.add_metric(name="VendorCalls", unit=MetricUnit.Count, value=len(calls[name]))
        blob.add_metric(name="VendorCallsThrottled", unit=MetricUnit.Count,
                        value=sum(1 for c in calls[name] if c.outcome == "throttled"))
        blob.add_metric(name="VendorCallsFailed", unit=MetricUnit.Count,
                        value=sum(1 for c in calls[name] if c.outcome == "unavailable"))
        for call in calls[name]:
            blob.add_metric(name="VendorLatency", unit=MetricUnit.Milliseconds, value=round(call.latency_s * 1000, 1))
        blob.flush_metrics()
