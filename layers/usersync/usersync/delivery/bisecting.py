"""Bisecting a bulk call the vendor rejected as a whole (Batch accepts or rejects a bulk as a whole):
split it in halves and send them, again and again, until the bad records stand alone. They go to
the failed-records queue with the vendor's own error; every good record is delivered.

The halves go left then right: when the left half is accepted, the right half holds the bad record
that sank their parent, so it is split without being sent whole. A record is failed only on its
own rejection (a single-record call), never by inference: a 400 that does not come back fails
nobody. With k bad records among n, the search costs at most 2·k·⌈log2 n⌉ extra calls, fewer in
practice; past `max_extra_calls` it stops and the records still in a rejected group are failed with
the vendor's error, marked retryable.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import TypeVar

from usersync.delivery.outcomes import VendorRejected

T = TypeVar("T")

# Rejections that can come from the content of one record; 401/403/404 are about the setup.
SPLITTABLE_STATUSES = frozenset({400, 413, 422})
ISOLATE_UP_TO = 10  # bad records in one call the search is sized for, before it gives up


def worth_splitting(rejection: VendorRejected, size: int) -> bool:
    return size > 1 and rejection.status in SPLITTABLE_STATUSES


def halves(batch: Sequence[T]) -> tuple[list[T], list[T]]:
    middle = (len(batch) + 1) // 2
    return list(batch[:middle]), list(batch[middle:])


class BisectBudget:
    """Extra calls one rejected call may cost: 2 · ISOLATE_UP_TO · ceil(log2(size))."""

    def __init__(self, size: int, isolate_up_to: int = ISOLATE_UP_TO):
        self.max_extra_calls = 2 * isolate_up_to * max(1, math.ceil(math.log2(max(size, 2))))
        self.spent = 0
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self.spent >= self.max_extra_calls:
                return False
            self.spent += 1
            return True
