"""records -> per-destination batches -> calls -> outcomes (delivered, rejected, retry).

Pure logic: no AWS here. The caller stores tokens, sends failed records to the queue and
hands retries back to SQS (usersync.sync).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from usersync.delivery.batching import generations
from usersync.delivery.destination import Destination
from usersync.delivery.outcomes import (
    Delivery, FailedRecord, Prepared, RecordRejected, VendorRejected, VendorUnavailable,
)
from usersync.observability import logger
from usersync.records import AudienceChange, SourcedRecord, Unparsable, UserChange


@dataclass(slots=True)
class Retry:
    """A record not delivered to `destination` for a reason that may pass: SQS retries it."""
    item: SourcedRecord
    destination: str
    reason: str


@dataclass(slots=True)
class DeliveryReport:
    deliveries: list[Delivery] = field(default_factory=list)
    failed: list[FailedRecord] = field(default_factory=list)
    retries: list[Retry] = field(default_factory=list)

    @property
    def delivered(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for delivery in self.deliveries:
            counts[delivery.destination] += len(delivery.items)
        return dict(counts)


_KIND_NAMES = {UserChange: "user changes", AudienceChange: "audience changes"}


def route(items: Iterable[SourcedRecord | Unparsable], destinations: Mapping[str, Destination],
          report: DeliveryReport) -> dict[str, list[SourcedRecord]]:
    """Each record to the destinations it names, or by default to every destination of its kind."""
    routed: dict[str, list[SourcedRecord]] = {name: [] for name in destinations}
    for item in items:
        if isinstance(item, Unparsable):
            report.failed.append(FailedRecord.unparsable(item))
            continue
        record = item.record
        names = record.destinations or [n for n, d in destinations.items() if isinstance(record, d.record_type)]
        if not names:
            report.failed.append(FailedRecord(
                item.raw, item.source, None, "NO_DESTINATION",
                f"no destination is configured for {_KIND_NAMES[type(record)]}", retryable=True))
        for name in names:
            destination = destinations.get(name)
            if destination is None:
                report.failed.append(FailedRecord(
                    item.raw, item.source, name, "UNKNOWN_DESTINATION",
                    f"destination {name!r} is not configured (configured: {', '.join(sorted(destinations))})",
                    "destinations", retryable=True))
            elif not isinstance(record, destination.record_type):
                report.failed.append(FailedRecord(
                    item.raw, item.source, name, "WRONG_DESTINATION_TYPE",
                    f"destination {name!r} ({destination.vendor}) does not take {_KIND_NAMES[type(record)]}",
                    "destinations"))
            else:
                routed[name].append(item)
    return routed


def deliver(items: Iterable[SourcedRecord | Unparsable], destinations: Mapping[str, Destination]) -> DeliveryReport:
    report = DeliveryReport()
    routed = route(items, destinations, report)
    work = [(destinations[name], batch) for name, batch in routed.items() if batch]
    if not work:
        return report
    with ThreadPoolExecutor(max_workers=len(work), thread_name_prefix="destination") as pool:
        for partial in pool.map(lambda job: _deliver_to(*job), work):
            report.deliveries.extend(partial.deliveries)
            report.failed.extend(partial.failed)
            report.retries.extend(partial.retries)
    return report


def _deliver_to(destination: Destination, items: list[SourcedRecord]) -> DeliveryReport:
    report = DeliveryReport()
    prepared: list[Prepared] = []
    for item in items:
        try:
            prepared.append(Prepared(item, destination.prepare(item.record), destination.key(item.record)))
        except RecordRejected as why:
            report.failed.append(FailedRecord.rejected(item, destination.name, why))

    # Generation n holds each user's n-th change: sending generation by generation keeps
    # a user's changes in order and never puts one user twice in a call.
    # A destination whose calls group records otherwise (Batch audiences) plans them itself.
    waves = getattr(destination, "plan_calls", generations)(prepared, destination.batch_size)
    with ThreadPoolExecutor(max_workers=destination.concurrency, thread_name_prefix=destination.name) as pool:
        for number, batches in enumerate(waves):
            for batch, outcome in zip(batches, pool.map(lambda b: _send(destination, b), batches)):
                _collect(destination, batch, outcome, report)
            if report.retries:
                # A later change must not overtake an earlier one that will be retried.
                for later in waves[number + 1:]:
                    report.retries.extend(
                        Retry(p.item, destination.name, "an earlier change in the same batch was not delivered")
                        for batch in later for p in batch)
                break
    return report


def _send(destination: Destination, batch: list[Prepared]):
    try:
        return destination.send([p.payload for p in batch])
    except (VendorRejected, VendorUnavailable) as exc:
        return exc
    except Exception as exc:  # noqa: BLE001 - anything unexpected is retried by SQS, never lost
        logger.exception("unexpected error sending to destination", extra={"destination": destination.name})
        return VendorUnavailable(f"{type(exc).__name__}: {exc}")


def _collect(destination: Destination, batch: list[Prepared], outcome, report: DeliveryReport) -> None:
    name = destination.name
    if isinstance(outcome, VendorUnavailable):
        logger.warning("destination unavailable, records will be retried",
                       extra={"destination": name, "records": len(batch), "reason": str(outcome)})
        report.retries.extend(Retry(p.item, name, str(outcome)) for p in batch)
        return
    if isinstance(outcome, VendorRejected):
        logger.warning("destination rejected a call",
                       extra={"destination": name, "records": len(batch), "status": outcome.status, "code": outcome.code})
        why = RecordRejected(
            "VENDOR_REJECTED", outcome.message or f"HTTP {outcome.status}", None,
            vendor_status=outcome.status, vendor_code=outcome.code,
            retryable=outcome.is_configuration_problem,
        )
        report.failed.extend(FailedRecord.rejected(p.item, name, why) for p in batch)
        return
    accepted = [p.item for i, p in enumerate(batch) if i not in outcome.rejected]
    report.failed.extend(FailedRecord.rejected(batch[i].item, name, why) for i, why in outcome.rejected.items())
    if accepted or outcome.token:
        report.deliveries.append(Delivery(name, destination.vendor, outcome.token, outcome.token_kind, accepted,
                                          outcome.context))
