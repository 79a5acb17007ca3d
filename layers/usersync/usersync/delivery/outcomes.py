"""What can happen to a record and to a call, in the domain's words.

Vendor clients speak in exceptions (`VendorRejected`, `VendorUnavailable`) and `SendResult`; the
executor turns every call into one typed outcome (`Accepted`, `Rejected`, `Unavailable`,
`Uncertain`), which the settle step matches in one place.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from usersync.failures import FailureCode
from usersync.records import SourcedRecord


class RecordRejected(Exception):
    """This record cannot go to this destination as it is (before or after sending).
    Not retryable until someone changes the record or the destination's config."""

    def __init__(self, code: FailureCode, message: str, field: str | None = None, *,
                 vendor_status: int | None = None, vendor_code: Any = None, retryable: bool = False):
        super().__init__(message)
        self.code, self.message, self.field = code, message, field
        self.vendor_status, self.vendor_code, self.retryable = vendor_status, vendor_code, retryable


class VendorRejected(Exception):
    """The vendor refused a whole call with a 4xx (Batch accepts or rejects a bulk as a whole)."""

    def __init__(self, status: int, code: Any, message: str):
        super().__init__(f"HTTP {status} {code}: {message}")
        self.status, self.code, self.message = status, code, message

    @property
    def is_configuration_problem(self) -> bool:
        # Wrong key, wrong region, missing audience: the records are fine, the setup is not.
        return self.status in (401, 403, 404)


class VendorUnavailable(Exception):
    """5xx, 429, timeout or dropped connection: worth trying again later. `maybe_applied` says
    whether the vendor may have applied the call anyway (a lost response); None lets
    usersync.delivery.retries decide from the status."""

    def __init__(self, message: str, retry_after_s: float | None = None, status: int | None = None, *,
                 maybe_applied: bool | None = None):
        super().__init__(message)
        self.retry_after_s, self.status, self.maybe_applied = retry_after_s, status, maybe_applied


DRY_RUN = "dry_run"  # token kind of a call the vendor validated without writing (CleverTap's dryRun=1)


@dataclass(slots=True)
class SendResult:
    """A call the vendor answered with success; `rejected` maps batch positions it refused
    (CleverTap answers 200 with per-record failures)."""
    token: str | None = None
    token_kind: str = "data"
    rejected: dict[int, RecordRejected] = dataclasses.field(default_factory=dict)
    context: dict[str, str] = dataclasses.field(default_factory=dict)  # what following the token up needs (an audience)


# --- a call's outcome, as the executor returns it ----------------------------------------------

@dataclass(frozen=True, slots=True)
class Accepted:
    """The vendor took the call; `result.rejected` names the payloads it refused one by one."""
    result: SendResult


@dataclass(frozen=True, slots=True)
class Rejected:
    """The vendor refused the whole call (a 4xx): nothing of it was applied."""
    error: VendorRejected


@dataclass(frozen=True, slots=True)
class Unavailable:
    """The call could not be made to succeed in this invocation (5xx, 429, timeouts, no time left):
    its records go back to SQS. Nothing of it that cannot be sent twice may have been applied."""
    reason: str


@dataclass(frozen=True, slots=True)
class Uncertain:
    """A call holding increments got no answer after it was sent: the vendor may have applied it."""
    reason: str


CallResult = Accepted | Rejected | Unavailable | Uncertain


class CallOutcome(StrEnum):
    """One vendor call as metrics count it (one per attempt)."""
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    THROTTLED = "throttled"      # 429
    UNAVAILABLE = "unavailable"  # any other transient failure


@dataclass(slots=True)
class Delivery:
    """One accepted call: its token and the records it carried."""
    destination: str
    vendor: str
    token: str | None
    token_kind: str
    items: list[SourcedRecord]
    context: dict[str, str] = dataclasses.field(default_factory=dict)
    call_id: str = ""  # names the call in the token item, stable however often the item is written
