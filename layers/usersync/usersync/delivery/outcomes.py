"""What can happen to a record at a destination, in the domain's words."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
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


@dataclass(slots=True)
class Prepared:
    """A record mapped to one destination's payload, ready to batch."""
    item: SourcedRecord
    payload: Any
    key: str  # the vendor's user key: a key appears at most once per call
    merged: tuple[SourcedRecord, ...] = ()  # later changes coalesced into this payload (delivery.coalescing)
    repeatable: bool = True  # False when sending it twice applies it twice ($incr): at most once

    @property
    def items(self) -> tuple[SourcedRecord, ...]:
        """Every record this payload stands for, in order."""
        return (self.item, *self.merged)


DRY_RUN = "dry_run"  # token kind of a call the vendor validated without writing (CleverTap's dryRun=1)


@dataclass(slots=True)
class SendResult:
    """A call the vendor answered with success; `rejected` maps batch positions it refused
    (CleverTap answers 200 with per-record failures)."""
    token: str | None = None
    token_kind: str = "data"
    rejected: dict[int, RecordRejected] = dataclasses.field(default_factory=dict)
    context: dict[str, str] = dataclasses.field(default_factory=dict)  # what following the token up needs (an audience)


@dataclass(slots=True)
class Delivery:
    """One accepted call: its token and the records it carried."""
    destination: str
    vendor: str
    token: str | None
    token_kind: str
    items: list[SourcedRecord]
    context: dict[str, str] = dataclasses.field(default_factory=dict)
