"""Batching to a vendor's limits while keeping each user's changes in order."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TypeVar

from usersync.delivery.outcomes import Prepared

T = TypeVar("T")


def chunks(items: Sequence[T], size: int) -> list[list[T]]:
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


def generations(prepared: Sequence[Prepared], batch_size: int) -> list[list[list[Prepared]]]:
    """Generation n holds every key's n-th item, chunked into calls of at most `batch_size`.
    With one change per user (the usual case) there is one generation and
    ceil(N / batch_size) calls: the minimum the limit allows."""
    occurrences: dict[str, int] = defaultdict(int)
    waves: list[list[Prepared]] = []
    for item in prepared:
        n = occurrences[item.key]
        occurrences[item.key] = n + 1
        if n == len(waves):
            waves.append([])
        waves[n].append(item)
    return [chunks(wave, batch_size) for wave in waves]
