"""The port every vendor adapter implements; the pipeline knows nothing else about vendors."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

from usersync.delivery.outcomes import SendResult
from usersync.records import Record


class Destination(Protocol):
    name: str
    vendor: ClassVar[str]            # "batch", "batch_audience", "batch_profile", "clevertap"
    record_type: ClassVar[type | tuple[type, ...]]  # the kinds of record it takes (or a `takes(record)`)
    batch_size: int                  # records per call
    concurrency: int                 # calls in flight at once

    def prepare(self, record: Record) -> Any:
        """The record's payload for this vendor; raises RecordRejected naming the field."""

    def prepare_steps(self, record: Record) -> list[Any]:
        """The record's payloads, in the order they must be applied: one, unless the vendor needs
        several calls to apply it (CleverTap: a $remove then an $add on one property)."""

    def key(self, record: Record) -> str:
        """The vendor's user key: one call never carries the same key twice."""

    def send(self, payloads: list[Any]) -> SendResult:
        """One call; raises VendorRejected (4xx) or VendorUnavailable (worth retrying)."""

    # Optional: `record_pacing` (usersync.delivery.throttle.RecordPacing) paces the records a vendor
    # meters per second, on top of the calls.
    # Optional: `plan_calls(parts, batch_size) -> waves of calls` replaces
    # usersync.delivery.plan.generations for a destination whose calls group records
    # otherwise (a Batch audience call holds one audience, and each id's last action).
