"""Retrying a call inside one invocation: exponential backoff with full jitter, Retry-After honoured,
and a deadline that keeps the invocation inside its Lambda timeout.

Only transient failures are retried (429, 5xx, timeouts, dropped connections: VendorUnavailable);
a 4xx never is. When the time left cannot hold one more wait and one more call, the work goes back
to SQS (the caller reports it as a retry) instead of being lost or running into the timeout.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from typing import Protocol

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from usersync.delivery.outcomes import VendorUnavailable

# Answers that say the vendor turned the call away before doing anything: safe to send again
# even when the call held increments. Any other 5xx, a timeout or a dropped connection after the
# request went out leaves the outcome unknown.
NOT_APPLIED_STATUSES = frozenset({429, 503})


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds."""

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


SYSTEM_CLOCK = SystemClock()


class Deadline:
    """The time an invocation may still spend on calls: the Lambda's remaining time less a reserve
    kept for what follows the calls (tokens, ledger, failed-records queue, the response)."""

    # The reserve: this share of the time the invocation had, at most MAX_RESERVE_S.
    RESERVE_SHARE, MAX_RESERVE_S = 0.2, 5.0

    def __init__(self, seconds: float, clock: Clock = SYSTEM_CLOCK, reserve_s: float | None = None):
        self.clock = clock
        self.reserve_s = min(self.MAX_RESERVE_S, seconds * self.RESERVE_SHARE) if reserve_s is None else reserve_s
        self._ends_at = clock.now() + seconds
        # Wall-clock end, for leases other invocations read (monotonic time is per process).
        self.ends_at_epoch = time.time() + seconds

    @classmethod
    def from_context(cls, context, clock: Clock = SYSTEM_CLOCK) -> Deadline:
        """From the Lambda context's remaining time; no context (local runs) means no limit that matters."""
        if context is None or not hasattr(context, "get_remaining_time_in_millis"):
            return cls.unlimited(clock)
        return cls(context.get_remaining_time_in_millis() / 1000, clock)

    @classmethod
    def unlimited(cls, clock: Clock = SYSTEM_CLOCK) -> Deadline:
        return cls(24 * 3600.0, clock, reserve_s=0)

    def remaining(self) -> float:
        """Seconds left for calls (the reserve excluded); never negative."""
        return max(0.0, self._ends_at - self.reserve_s - self.clock.now())

    def allows(self, seconds: float) -> bool:
        return self.remaining() >= seconds


@dataclass(frozen=True, slots=True)
class Backoff:
    """Full jitter (a uniform wait between 0 and the exponential cap), the spread that ends a
    retry storm soonest; a Retry-After from the vendor is a floor."""
    base_s: float = 0.5
    max_s: float = 20.0
    max_attempts: int = 5  # calls in all, the first included

    def delay(self, attempt: int, retry_after_s: float | None, rng: random.Random | SharedRandom) -> float:
        """Wait before attempt number `attempt + 1` (attempt 0 is the first call)."""
        ceiling = min(self.max_s, self.base_s * 2 ** attempt)
        jittered = rng.uniform(0, ceiling)
        return max(jittered, retry_after_s or 0.0)


def may_have_applied(exc: VendorUnavailable) -> bool:
    """Whether the vendor may have applied a call that failed this way."""
    if exc.maybe_applied is not None:
        return exc.maybe_applied
    return exc.status not in NOT_APPLIED_STATUSES


def may_have_reached_vendor(exc: requests.RequestException) -> bool:
    """False when `exc` shows the request never left (no connection could be made); a vendor
    client passes it as VendorUnavailable's `maybe_applied`."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return not isinstance(reason, (NewConnectionError, ConnectTimeoutError))


class SharedRandom:
    """One seeded generator shared by threads (random.Random is not safe to share)."""

    def __init__(self, seed: int | None = None):
        self._rng, self._lock = random.Random(seed), threading.Lock()

    def uniform(self, low: float, high: float) -> float:
        with self._lock:
            return self._rng.uniform(low, high)
