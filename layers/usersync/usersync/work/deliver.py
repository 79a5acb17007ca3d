"""The deliver function's work: SQS messages -> records -> the delivery service -> a partial batch response.

Records from all messages of a Lambda batch are delivered together, so calls carry as many
records as the vendors allow. A message is handed back to SQS (partial batch response) only
when one of its records met a failure worth retrying; every record that failed for good is
already in the failed-records queue.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from usersync.delivery.checkpoints import Checkpoints
from usersync.delivery.pipeline import DeliveryReport
from usersync.delivery.service import DeliveryService
from usersync.limits import DEFAULT_LIMITS, InputLimits
from usersync.observability import logger
from usersync.parsing.messages import records_in_message
from usersync.replays import ReplayCheck
from usersync.work.collector import collector_paused


class DeliveryDeferred(Exception):
    """Raised for a message whose records will be retried by SQS."""


@dataclass(slots=True)
class SyncOutcome:
    report: DeliveryReport
    retry_message_ids: set[str]

    def check(self, record: Any) -> None:
        """The record handler of the partial batch response (usersync.work.partial_batch): fail exactly
        the messages to retry."""
        if record.message_id in self.retry_message_ids:
            reasons = {r.reason for r in self.report.retries if r.item.source.message_id == record.message_id}
            raise DeliveryDeferred("; ".join(sorted(reasons))[:500])


class Sync:
    def __init__(self, delivery: DeliveryService, replays: ReplayCheck, checkpoints: Checkpoints | None = None, *,
                 limits: InputLimits = DEFAULT_LIMITS):
        self.delivery, self.replays, self.limits = delivery, replays, limits
        self.checkpoints = checkpoints or delivery.checkpoints  # one set per function instance

    def deliver_messages(self, messages: list[dict[str, Any]], context: Any = None) -> SyncOutcome:
        # A replayed message is known by its first id (the ledger's unit); map back to this one.
        receipts: dict[str, set[str]] = defaultdict(set)
        items = []
        with collector_paused():  # the batch's records stay alive until it is done: nothing for it to find
            for m in messages:
                unit = self.replays.original_id(m["body"], m.get("messageAttributes") or {}) or m["messageId"]
                receipts[unit].add(m["messageId"])
                items.extend(records_in_message(unit, m["body"], self.limits))
            report = self.delivery.deliver(items, context)
        retry_ids = {message_id for r in report.retries for message_id in receipts[r.item.source.message_id]}
        logger.info("delivered messages", extra={
            "messages": len(messages), "records": len(items), "delivered": report.delivered,
            "validated_by_dry_run": report.validated,
            "failed_records": len(report.failed), "messages_to_retry": len(retry_ids),
        })
        self.checkpoints.reach("before_batch_response")
        return SyncOutcome(report, retry_ids)
