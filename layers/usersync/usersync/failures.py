"""Why a record was not delivered: the failure codes users read (docs/operations.md) and the
failed-records queue's envelope. One place for both, so a code is never spelt twice."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # records name their failure codes: no import cycle at run time
    from usersync.records import Source, SourcedRecord, Unparsable

ENVELOPE_VERSION = 1
# An error's text and field in an envelope are cut here: a message may quote a value, a field name
# a key, and neither may crowd out the record.
MAX_MESSAGE_CHARS = 2_000
MAX_FIELD_CHARS = 300


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"... ({len(text):,} characters)"


class FailureCode(StrEnum):
    """Every code a failed-records envelope can carry (docs/operations.md says what to do for each)."""
    INVALID_MESSAGE = "INVALID_MESSAGE"                # the message body is not JSON (or not a record list)
    INVALID_RECORD = "INVALID_RECORD"                  # the record breaks the record format
    VENDOR_RULE = "VENDOR_RULE"                        # a vendor rule checked before sending (names, URLs...)
    UNSUPPORTED_OPERATION = "UNSUPPORTED_OPERATION"    # the destination cannot apply an operation
    UNKNOWN_DESTINATION = "UNKNOWN_DESTINATION"        # `destinations` names one that is not configured
    WRONG_DESTINATION_TYPE = "WRONG_DESTINATION_TYPE"  # e.g. an audience change sent to a Custom Data destination
    NO_DESTINATION = "NO_DESTINATION"                  # nothing configured takes this kind of record
    VENDOR_REJECTED = "VENDOR_REJECTED"                # the vendor refused the call or the record
    DELIVERY_UNCERTAIN = "DELIVERY_UNCERTAIN"          # an increment whose call got no answer: never resent
    VENDOR_UNAVAILABLE = "VENDOR_UNAVAILABLE"          # a file's chunk met 5xx/429/timeouts on every attempt


@dataclass(slots=True)
class FailedRecord:
    """A record that will not be delivered to one destination (or to any, when destination is None),
    with a reason a person can act on. `envelope()` is the failed-records queue message."""
    raw: Any
    source: Source
    destination: str | None
    code: FailureCode
    message: str
    field: str | None = None
    retryable: bool = False
    vendor_status: int | None = None
    vendor_code: Any = None
    failed_at: str = dataclasses.field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    @classmethod
    def unparsable(cls, bad: Unparsable) -> FailedRecord:
        return cls(bad.raw, bad.source, None, bad.code, bad.reason, bad.field)

    @classmethod
    def rejected(cls, item: SourcedRecord, destination: str | None, why: Any) -> FailedRecord:
        """`why`: a RecordRejected (usersync.delivery.outcomes)."""
        return cls(item.raw, item.source, destination, why.code, why.message, why.field, why.retryable,
                   why.vendor_status, why.vendor_code)

    def envelope(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": str(self.code), "message": _cut(self.message, MAX_MESSAGE_CHARS)}
        if self.field:
            error["field"] = _cut(self.field, MAX_FIELD_CHARS)
        if self.vendor_status is not None:
            error["vendor_status"] = self.vendor_status
        if self.vendor_code is not None:
            error["vendor_code"] = self.vendor_code
        return {
            "version": ENVELOPE_VERSION,
            "record": self.raw,
            "destination": self.destination,
            "error": error,
            "retryable": self.retryable,
            "source": self.source.as_dict(),
            "failed_at": self.failed_at,
        }
