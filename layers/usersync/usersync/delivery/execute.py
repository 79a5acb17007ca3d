"""Execute: one call to one destination, paced and retried within the invocation's deadline, turned
into one typed outcome. Exceptions from the vendor clients stop here: the outcome says what happened.

- 2xx -> Accepted (with the payloads the vendor refused one by one, if any);
- a 4xx -> Rejected (never retried: nothing of it was applied);
- 5xx, 429, timeouts, dropped connections -> retried with backoff while the deadline allows, then
  Unavailable (back to SQS);
- a call carrying increments that failed after it may have reached the vendor -> Uncertain at once:
  an increment is never sent twice (its pending mark, written just before the call, says so to
  every later attempt).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from usersync.delivery.checkpoints import Checkpoints
from usersync.delivery.ledger import DeliveryLedger, Entry
from usersync.delivery.outcomes import (
    Accepted, CallOutcome, CallResult, Rejected, SendResult, Uncertain, Unavailable, VendorRejected, VendorUnavailable,
)
from usersync.delivery.plan import Part, has_increment
from usersync.delivery.retries import Backoff, Clock, Deadline, may_have_applied
from usersync.delivery.settings import DeliverySettings
from usersync.delivery.throttle import Throttle, TokenBucket
from usersync.observability import logger, subsegment
from usersync.records import SourcedRecord


@dataclass(slots=True)
class CallStat:
    """One attempt of one vendor call, for metrics."""
    destination: str
    outcome: CallOutcome
    records: int
    latency_s: float


def entries(destination: str, items: Iterable[SourcedRecord]) -> list[Entry]:
    """Ledger entries (one per unit) for `items` at `destination`."""
    by_unit: dict[str, set[int]] = {}
    for item in items:
        position = item.source.position
        if position is not None:
            by_unit.setdefault(item.source.unit, set()).add(position)
    return [Entry(unit, destination, tuple(sorted(positions))) for unit, positions in by_unit.items()]


def pending_entries(destination: str, parts: list[Part]) -> list[Entry]:
    """The increments a call carries: marked pending before it is sent, cleared on a definite answer."""
    return entries(destination, (item for part in parts if part.increments for item in part.records
                                 if has_increment(item.record)))


class Executor:
    """Sends the calls of one destination."""

    def __init__(self, destination: Any, settings: DeliverySettings, throttle: Throttle, deadline: Deadline,
                 clock: Clock, rng: Any, ledger: DeliveryLedger | None, checkpoints: Checkpoints,
                 bucket: TokenBucket | None = None):
        """`bucket`: the records-per-second pacing of a vendor that meters records (None: calls only)."""
        self.destination, self.name = destination, destination.name
        self.settings, self.throttle, self.deadline, self.bucket = settings, throttle, deadline, bucket
        self.clock, self.rng, self.ledger, self.checkpoints = clock, rng, ledger, checkpoints
        self.backoff = Backoff(settings.backoff_base_s, settings.backoff_max_s, settings.max_attempts)
        self.stats: list[CallStat] = []
        self._lock = threading.Lock()

    def send(self, parts: list[Part]) -> CallResult:
        pending = pending_entries(self.name, parts) if self.ledger is not None else []
        outcome = self._attempts(parts, pending, marked := [])
        if marked and isinstance(outcome, Unavailable):
            self.ledger.update(resolved=pending)  # turned away every time: safe to send again later
        return outcome

    def _attempts(self, parts: list[Part], pending: list[Entry], marked: list[bool]) -> CallResult:
        payloads = [part.payload for part in parts]
        timeout = self.settings.timeout_s
        error: VendorUnavailable | None = None
        for attempt in range(self.backoff.max_attempts):
            self.checkpoints.reach("before_call")
            permit = self.throttle.acquire(self.deadline, needs_s=timeout) if self.deadline.allows(timeout) else None
            # A vendor that meters records: one per payload (one user each), taken just before the call
            # goes out, as the vendor counts them when it arrives.
            if permit is not None and self.bucket is not None \
                    and not self.bucket.take(len(parts), self.deadline, needs_s=timeout):
                self.throttle.release(permit, sent=False)
                permit = None
            if permit is None:
                reason = f"{self.name}: no time left for another call before the Lambda timeout"
                return Unavailable(f"{error} ({reason})" if error else reason)
            if pending and not marked:
                try:  # marked just before sending: a mark never stands for a call that was not made
                    self.ledger.update(pending=pending)
                except BaseException:
                    self.throttle.release(permit)
                    raise
                marked.append(True)
            started = self.clock.now()
            try:
                with subsegment(f"## {self.name} send") as segment:
                    segment.put_annotation("destination", self.name)
                    segment.put_metadata("records", len(parts), "usersync")
                    result = self.destination.send(payloads)
            except VendorRejected as rejection:
                self._stat(CallOutcome.REJECTED, parts, started)
                self.throttle.release(permit)
                return Rejected(rejection)
            except VendorUnavailable as exc:
                error = exc
            except Exception as exc:  # noqa: BLE001 - anything unexpected is retried, never lost
                logger.exception("unexpected error sending to destination", extra={"destination": self.name})
                error = VendorUnavailable(f"{type(exc).__name__}: {exc}", maybe_applied=True)
            else:
                self._stat(CallOutcome.ACCEPTED, parts, started)
                self.throttle.release(permit)
                return Accepted(result if isinstance(result, SendResult) else SendResult())
            throttled = error.status == 429
            self._stat(CallOutcome.THROTTLED if throttled else CallOutcome.UNAVAILABLE, parts, started)
            self.throttle.release(permit, throttled=throttled, retry_after_s=error.retry_after_s)
            if throttled and self.bucket is not None:  # every destination drawing on it waits too
                self.bucket.pause(error.retry_after_s or 0.0)
            if pending and may_have_applied(error):
                return Uncertain(str(error))
            if attempt + 1 == self.backoff.max_attempts:
                break
            delay = self.backoff.delay(attempt, error.retry_after_s, self.rng)
            if not self.deadline.allows(delay + timeout):
                return Unavailable(f"{error} (no time left to retry before the Lambda timeout)")
            logger.info("retrying a call", extra={"destination": self.name, "attempt": attempt + 1,
                                                  "delay_s": round(delay, 3), "reason": str(error)})
            self.clock.sleep(delay)
        return Unavailable(str(error))

    def _stat(self, outcome: CallOutcome, parts: list[Part], started: float) -> None:
        records = sum(len(p.records) for p in parts)
        with self._lock:
            self.stats.append(CallStat(self.name, outcome, records, self.clock.now() - started))
