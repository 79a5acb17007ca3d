"""What both delivering functions (SQS messages, file chunks) do with their records, through one API:
deliver them (usersync.delivery.pipeline), put every failure in the failed-records queue, then mark
those records reported in the ledger so no retry reports them again; and count it all in metrics.

    report = service.deliver(items, context)   # report.retries: what SQS must retry
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from usersync.delivery.checkpoints import Checkpoints
from usersync.delivery.destination import Destination
from usersync.delivery.ledger import EVERY, DeliveryLedger, Entry
from usersync.delivery.outcomes import CallOutcome
from usersync.delivery.pipeline import DeliveryOptions, DeliveryReport, deliver
from usersync.delivery.retries import Deadline
from usersync.delivery.throttle import Throttles
from usersync.failures import FailedRecord
from usersync.observability import metrics
from usersync.records import SourcedRecord, Unparsable
from usersync.stores.erasures import ErasureReceipts
from usersync.stores.failed_records import FailedRecordQueue


def settled_entries(failures: Iterable[FailedRecord]) -> list[Entry]:
    """Ledger entries for failures once they are in the failed-records queue, tagged with their code."""
    by_key: dict[tuple[str, str, str], set[int]] = defaultdict(set)
    for failure in failures:
        position = failure.source.position
        if position is not None:
            by_key[(failure.source.unit, failure.destination or EVERY, str(failure.code))].add(position)
    return [Entry(unit, destination, tuple(sorted(positions)), tag=code)
            for (unit, destination, code), positions in by_key.items()]


class DeliveryService:
    def __init__(self, destinations: Callable[[], Mapping[str, Destination]], failed: FailedRecordQueue,
                 ledger: DeliveryLedger | None, *, throttles: Throttles | None = None,
                 checkpoints: Checkpoints | None = None, erasures: ErasureReceipts | None = None):
        self.destinations, self.failed, self.ledger, self.erasures = destinations, failed, ledger, erasures
        # Pacing learnt from the vendors (429s) outlives one invocation: the composition root gives
        # the function one Throttles for its lifetime.
        self.throttles = throttles or Throttles()
        self.checkpoints = checkpoints or Checkpoints()

    def deliver(self, items: Iterable[SourcedRecord | Unparsable], context: Any = None) -> DeliveryReport:
        """`context` (the Lambda context) gives the deadline calls must fit in and the invocation id."""
        options = DeliveryOptions(ledger=self.ledger, deadline=Deadline.from_context(context), throttles=self.throttles,
                                  owner=getattr(context, "aws_request_id", None) or str(uuid.uuid4()),
                                  checkpoints=self.checkpoints)
        report = deliver(items, self.destinations(), options)
        self.report_failures(report.failed)
        count(report)
        return report

    def report_failures(self, failures: list[FailedRecord]) -> None:
        """Into the failed-records queue (a deletion's receipt says why), then settled in the ledger (a
        crash in between reports them twice, never zero times)."""
        self.checkpoints.reach("before_failed_records")
        self.failed.send(failures)
        if self.erasures is not None:
            for failure in failures:  # a deletion that could not be done: its receipt says why
                if isinstance(failure.raw, dict) and failure.raw.get("delete") is True \
                        and isinstance(failure.raw.get("user_id"), str) and failure.raw["user_id"]:
                    self.erasures.failed(failure.raw["user_id"], failure.destination, str(failure.code),
                                         failure.message)
        self.checkpoints.reach("before_settled_marks")
        if self.ledger is not None and (entries := settled_entries(failures)):
            self.ledger.update(settled=entries)


def count(report: DeliveryReport) -> None:
    metrics.add_metric(name="RecordsDelivered", unit=MetricUnit.Count, value=sum(report.delivered.values()))
    metrics.add_metric(name="RecordsFailed", unit=MetricUnit.Count, value=len(report.failed))
    metrics.add_metric(name="RecordsRetried", unit=MetricUnit.Count, value=len(report.retries))
    _count_per_destination(report)


def _count_per_destination(report: DeliveryReport) -> None:
    """One EMF blob per destination (dimension `destination`): records delivered, rejected and
    retried, vendor calls by outcome, and each call's latency."""
    rejected: dict[str, int] = defaultdict(int)
    for failure in report.failed:
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
                        value=sum(1 for c in calls[name] if c.outcome == CallOutcome.THROTTLED))
        blob.add_metric(name="VendorCallsFailed", unit=MetricUnit.Count,
                        value=sum(1 for c in calls[name] if c.outcome == CallOutcome.UNAVAILABLE))
        for call in calls[name]:
            blob.add_metric(name="VendorLatency", unit=MetricUnit.Milliseconds, value=round(call.latency_s * 1000, 1))
        blob.flush_metrics()
