"""Routing: which destinations a record goes to. One rule, used by every path."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from usersync.delivery.destination import Destination
from usersync.failures import FailedRecord, FailureCode
from usersync.records import AudienceChange, Record, SourcedRecord, Unparsable, UserChange, UserDeletion

_KIND_NAMES = {UserChange: "user changes", AudienceChange: "audience changes", UserDeletion: "this deletion"}


def takes(destination: Any, record: Record) -> bool:
    """Whether `destination` can apply `record` (its `takes`, else its record types)."""
    check = getattr(destination, "takes", None)
    return check(record) if check is not None else isinstance(record, destination.record_type)


def targets(record: Record, destinations: Mapping[str, Any]) -> tuple[str, ...]:
    """The destinations a record names, or by default every configured destination that takes it."""
    if record.destinations:
        return record.destinations
    return tuple(name for name, destination in destinations.items() if takes(destination, record))


def route(items: Iterable[SourcedRecord | Unparsable], destinations: Mapping[str, Destination],
          failed: list[FailedRecord]) -> dict[str, list[SourcedRecord]]:
    """Each record to its destinations (`targets`); what cannot be routed goes to `failed`."""
    routed: dict[str, list[SourcedRecord]] = {name: [] for name in destinations}
    for item in items:
        if isinstance(item, Unparsable):
            failed.append(FailedRecord.unparsable(item))
            continue
        record = item.record
        names = targets(record, destinations)
        if not names:
            failed.append(FailedRecord(
                item.raw, item.source, None, FailureCode.NO_DESTINATION,
                f"no destination is configured for {_KIND_NAMES[type(record)]}", retryable=True))
        for name in names:
            destination = destinations.get(name)
            if destination is None:
                failed.append(FailedRecord(
                    item.raw, item.source, name, FailureCode.UNKNOWN_DESTINATION,
                    f"destination {name!r} is not configured (configured: {', '.join(sorted(destinations))})",
                    "destinations", retryable=True))
            elif not takes(destination, record):
                failed.append(FailedRecord(
                    item.raw, item.source, name, FailureCode.WRONG_DESTINATION_TYPE,
                    f"destination {name!r} ({destination.vendor}) does not take {_KIND_NAMES[type(record)]}",
                    "destinations"))
            else:
                routed[name].append(item)
    return routed
