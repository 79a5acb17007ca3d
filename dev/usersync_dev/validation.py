"""Checking records against destinations without sending anything: what `usersync validate` reports.

The checks are the pipeline's own: routing (`delivery.pipeline.route`) and each destination's
`prepare()`, which applies the vendor's rules. So a record validate accepts is one the pipeline
sends, and a problem comes with the same code and field as in the failed-records queue.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import islice
from dataclasses import dataclass, field

from usersync.delivery.destination import Destination
from usersync.delivery.outcomes import RecordRejected
from usersync.failures import FailedRecord
from usersync.delivery.routing import route
from usersync.records import SourcedRecord, Unparsable

SLICE = 10_000  # records routed and checked at a time


@dataclass
class ValidationReport:
    records: int = 0  # items read, valid or not
    accepted: dict[str, int] = field(default_factory=dict)  # destination -> records it would take
    failed: list[FailedRecord] = field(default_factory=list)  # one per record and destination refused
    accepted_items: dict[str, list[SourcedRecord]] = field(default_factory=dict)  # only for `keep_for`

    @property
    def ok(self) -> bool:
        return not self.failed


def validate(items: Iterable[SourcedRecord | Unparsable], destinations: Mapping[str, Destination], *,
             ignore_named_destinations: bool = False, keep_for: frozenset[str] = frozenset()) -> ValidationReport:
    """Route and prepare every record for every destination it would reach; send nothing.

    `ignore_named_destinations`: check each record against every destination of its kind, whatever
    its `destinations` field says (used when the user's config is not at hand).
    `keep_for`: destinations whose accepted records are kept in the report (for a vendor dry run).
    """
    report = ValidationReport(accepted={name: 0 for name in destinations})
    counted = _counting(items, report, ignore_named_destinations)
    # A slice at a time, so memory holds one slice of records (and the problems), whatever the file's size.
    while slice_ := list(islice(counted, SLICE)):
        unroutable: list[FailedRecord] = []
        for name, routed in route(slice_, destinations, unroutable).items():
            destination = destinations[name]
            for item in routed:
                try:
                    destination.prepare(item.record)
                except RecordRejected as why:
                    report.failed.append(FailedRecord.rejected(item, name, why))
                    continue
                report.accepted[name] += 1
                if name in keep_for:
                    report.accepted_items.setdefault(name, []).append(item)
        report.failed.extend(unroutable)
    report.failed.sort(key=_position)
    return report


def _counting(items: Iterable[SourcedRecord | Unparsable], report: ValidationReport, anonymous: bool):
    for item in items:
        report.records += 1
        if anonymous and isinstance(item, SourcedRecord) and item.record.destinations:
            item = SourcedRecord(item.record.model_copy(update={"destinations": None}), item.raw, item.source)
        yield item


def _position(failure: FailedRecord) -> tuple:
    source = failure.source
    return (source.key or source.message_id or "", source.line or 0, source.index or 0, failure.destination or "")
