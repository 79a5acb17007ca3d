"""Pacing the calls to one destination: a concurrency cap and a rate, both adaptive (AIMD).

A 429 halves the calls allowed in flight and the rate (multiplicative decrease, once per
congestion episode), every success adds a little back (additive increase) until the configured
values are reached again; a Retry-After pauses every new call to that destination. So a 429
storm slows delivery down instead of failing it.

A throttle lives as long as the destination it paces (a warm Lambda keeps it across invocations);
each Lambda instance paces itself, and the template's DeliverMaxConcurrency caps the instances.

A vendor that meters records rather than calls (Batch's Profile API counts the profiles in each call)
gets a token bucket too (`RecordPacing`): a call of n records starts once n tokens are there, and
every destination with the same pacing key (one vendor project) draws from the same bucket.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass

from usersync.delivery.retries import SYSTEM_CLOCK, Clock, Deadline

MIN_RATE_PER_S = 0.5          # the floor a 429 storm can push the rate down to
RECOVERY_STEPS = 10           # successes that win back one halving of the rate
OBSERVED_WINDOW_S = 1.0       # the call rate measured when no rate is configured
_SLOT_POLL_S = 0.05           # re-check the deadline this often while waiting for a free slot


@dataclass(frozen=True, slots=True)
class Permit:
    """A granted call start; give it back with `Throttle.release`."""
    started: float


class Throttle:
    def __init__(self, concurrency: int, rate_per_s: float | None = None, clock: Clock = SYSTEM_CLOCK):
        self.max_concurrency, self.configured_rate = concurrency, rate_per_s
        self.clock = clock
        self.limit = float(concurrency)   # calls allowed in flight, adaptive
        self.rate = rate_per_s           # call starts per second, adaptive; None: not paced
        self.in_flight = 0
        self.decreases = 0               # congestion episodes seen (for metrics and tests)
        self._ceiling: float | None = rate_per_s  # the rate to recover to
        self._next_start = 0.0
        self._paused_until = 0.0
        self._last_decrease = -math.inf
        self._starts: deque[float] = deque(maxlen=256)
        self._cond = threading.Condition()

    def acquire(self, deadline: Deadline, needs_s: float = 0.0) -> Permit | None:
        """Wait for a free slot and the next start the rate allows. None when that wait would leave
        less than `needs_s` (the call's own timeout) before the deadline: the caller gives up."""
        while True:
            with self._cond:
                now = self.clock.now()
                if self.in_flight >= max(1, int(self.limit)):
                    if not deadline.allows(needs_s):
                        return None
                    self._cond.wait(_SLOT_POLL_S)
                    continue
                wait = max(self._paused_until - now, (self._next_start - now) if self.rate else 0.0)
                if wait <= 0:
                    self.in_flight += 1
                    if self.rate:
                        self._next_start = max(self._next_start, now) + 1 / self.rate
                    self._starts.append(now)
                    return Permit(now)
            if not deadline.allows(wait + needs_s):
                return None
            self.clock.sleep(wait)

    def release(self, permit: Permit, *, throttled: bool = False, retry_after_s: float | None = None,
                sent: bool = True) -> None:
        """The call is over: `throttled` when the vendor answered 429; not `sent`: it never started."""
        with self._cond:
            self.in_flight -= 1
            if not sent:
                self._cond.notify_all()
                return
            now = self.clock.now()
            if retry_after_s:
                self._paused_until = max(self._paused_until, now + retry_after_s)
            if throttled:
                # Calls already in flight when we slowed down say nothing new: one halving per episode.
                if permit.started > self._last_decrease:
                    self._decrease(now)
            else:
                self._increase()
            self._cond.notify_all()

    def _decrease(self, now: float) -> None:
        self.decreases += 1
        self._last_decrease = now
        self.limit = max(1.0, self.limit / 2)
        current = self.rate or self._observed_rate(now)
        if self._ceiling is None:
            self._ceiling = current
        self.rate = max(MIN_RATE_PER_S, current / 2)

    def _increase(self) -> None:
        self.limit = min(float(self.max_concurrency), self.limit + 1 / self.limit)
        if self.rate is not None and self._ceiling is not None:
            self.rate += self._ceiling / (2 * RECOVERY_STEPS)
            if self.rate >= self._ceiling:  # recovered: back to the configured pace (None: unpaced)
                self.rate, self._ceiling = self.configured_rate, self.configured_rate

    def _observed_rate(self, now: float) -> float:
        recent = sum(1 for started in self._starts if now - started <= OBSERVED_WINDOW_S)
        return max(1.0, recent / OBSERVED_WINDOW_S)


@dataclass(frozen=True, slots=True)
class RecordPacing:
    """Records a vendor allows per second, with the burst it allows, for everything sharing `key`."""
    key: str
    per_s: float
    burst: float


class TokenBucket:
    """Records per second with a burst: the bucket holds `burst` tokens, refilled at `per_s`. A call
    larger than the bucket starts when it is full and leaves a debt the next calls wait for, so the
    rate holds whatever the call size."""

    def __init__(self, per_s: float, burst: float, clock: Clock = SYSTEM_CLOCK):
        self.per_s, self.burst, self.clock = per_s, burst, clock
        self._tokens = burst
        self._updated = clock.now()
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def take(self, records: int, deadline: Deadline, needs_s: float = 0.0) -> bool:
        """Wait until `records` may be sent, and take them. False (nothing taken) when that wait would
        leave less than `needs_s` (the call's own timeout) before the deadline."""
        while True:
            with self._lock:
                now = self._refill()
                missing = min(records, self.burst) - self._tokens
                wait = max(self._paused_until - now, missing / self.per_s if missing > 0 else 0.0)
                if wait <= 0:
                    self._tokens -= records
                    return True
            if not deadline.allows(wait + needs_s):
                return False
            self.clock.sleep(wait)

    def pause(self, seconds: float) -> None:
        """The vendor said to wait (a 429): nothing starts before `seconds`, and the bucket starts empty."""
        with self._lock:
            now = self._refill()
            self._paused_until = max(self._paused_until, now + seconds)
            self._tokens = min(self._tokens, 0.0)

    def configure(self, per_s: float, burst: float) -> None:
        with self._lock:
            self._refill()
            self.per_s, self.burst = per_s, burst
            self._tokens = min(self._tokens, burst)

    def _refill(self) -> float:
        now = self.clock.now()
        since = max(self._updated, self._paused_until)  # nothing refills while paused
        if now > since:
            self._tokens = min(self.burst, self._tokens + (now - since) * self.per_s)
        self._updated = max(self._updated, now)
        return now


class Throttles:
    """One throttle per destination, kept while its pacing settings stay the same; one record bucket
    per pacing key."""

    def __init__(self, clock: Clock = SYSTEM_CLOCK):
        self.clock = clock
        self._throttles: dict[str, tuple[tuple, Throttle]] = {}
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def get(self, name: str, concurrency: int, rate_per_s: float | None) -> Throttle:
        settings = (concurrency, rate_per_s)
        with self._lock:
            known = self._throttles.get(name)
            if known is None or known[0] != settings:
                known = (settings, Throttle(concurrency, rate_per_s, self.clock))
                self._throttles[name] = known
            return known[1]

    def bucket(self, pacing: RecordPacing) -> TokenBucket:
        """The bucket of `pacing.key`, shared by every destination naming it (the last settings apply)."""
        with self._lock:
            bucket = self._buckets.get(pacing.key)
            if bucket is None:
                bucket = self._buckets[pacing.key] = TokenBucket(pacing.per_s, pacing.burst, self.clock)
            elif (bucket.per_s, bucket.burst) != (pacing.per_s, pacing.burst):
                bucket.configure(pacing.per_s, pacing.burst)
            return bucket

    def clear(self) -> None:
        """Forget what was learnt (tests, or a new configuration)."""
        with self._lock:
            self._throttles.clear()
            self._buckets.clear()
