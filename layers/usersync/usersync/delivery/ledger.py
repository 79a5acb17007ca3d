"""The delivery ledger: what each delivery unit already got to each destination, so a retried
SQS message or file chunk never resends a batch a vendor accepted.

A unit (`Source.unit`: `sqs:<message id>` or `s3:<chunk>`) is what SQS or a chunk job retries as a
whole; a record is known in it by its position (index in the message, ordinal in the chunk), which
stays the same on every retry, whatever else the Lambda batch holds. Each call leaves, per unit,
an entry: a deterministic batch id (a hash of the unit, the destination and the positions) and
the positions. The ledger keeps, per (unit, destination):
- accepted: entries of calls the vendor accepted; a retry skips those positions;
- pending: entries written just before a call carrying increments ($incr/$decr), removed once the
  vendor answered. An entry still pending on a retry is a call whose outcome nobody knows (a
  timeout, a lost response, a Lambda that died): its increments are not sent again (at most once);
- settled: such increments once they are in the failed-records queue (DELIVERY_UNCERTAIN), so a
  message SQS delivers again does not report them twice;
- a claim (owner, until) taken before sending increments, so two invocations that got the same
  message (SQS delivers at least once) never both send them.

The DynamoDB adapter is usersync.stores.ledger; InMemoryLedger is for tests.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from usersync.records import Source

Key = tuple[str, str]  # (unit, destination)


def position_of(source: Source) -> int | None:
    """A record's place in its unit (Source.position): stable across retries, unique in the unit."""
    return source.position


def encode_positions(positions: Iterable[int]) -> str:
    """Sorted positions as ranges: 0-99,105,107-110."""
    ordered = sorted(set(positions))
    parts: list[str] = []
    start = previous = None
    for position in ordered + [None]:
        if start is not None and (position is None or position != previous + 1):
            parts.append(str(start) if start == previous else f"{start}-{previous}")
            start = None
        if position is not None and start is None:
            start = position
        previous = position
    return ",".join(parts)


def decode_positions(text: str) -> set[int]:
    positions: set[int] = set()
    for part in filter(None, text.split(",")):
        first, _, last = part.partition("-")
        positions.update(range(int(first), int(last or first) + 1))
    return positions


@dataclass(frozen=True, slots=True)
class Entry:
    """The positions of one unit that one call carried to one destination."""
    unit: str
    destination: str
    positions: tuple[int, ...]

    @property
    def key(self) -> Key:
        return self.unit, self.destination

    @property
    def batch_id(self) -> str:
        ranges = encode_positions(self.positions)
        return hashlib.sha256(f"{self.unit}\n{self.destination}\n{ranges}".encode()).hexdigest()[:16]

    @property
    def element(self) -> str:
        """How the entry is stored: `<batch id>:<ranges>`."""
        return f"{self.batch_id}:{encode_positions(self.positions)}"


def positions_in(elements: Iterable[str]) -> frozenset[int]:
    found: set[int] = set()
    for element in elements:
        found |= decode_positions(element.partition(":")[2])
    return frozenset(found)


@dataclass(frozen=True, slots=True)
class Progress:
    accepted: frozenset[int] = frozenset()
    pending: frozenset[int] = frozenset()
    settled: frozenset[int] = frozenset()

    @property
    def uncertain(self) -> frozenset[int]:
        """Positions sent in a call whose outcome is unknown, not yet reported."""
        return self.pending - self.accepted - self.settled


NO_PROGRESS = Progress()


class DeliveryLedger(Protocol):
    def read(self, keys: Iterable[Key]) -> dict[Key, Progress]:
        """Progress of each (unit, destination); NO_PROGRESS when nothing is known."""

    def claim(self, keys: Iterable[Key], owner: str, until_epoch: float) -> dict[Key, Progress | None]:
        """Take each key for `owner` until `until_epoch` (unless another owner holds it unexpired)
        and return its progress, read with the claim; None for a key held by another owner."""

    def release(self, keys: Iterable[Key], owner: str) -> None:
        """Give back the claims `owner` holds."""

    def update(self, *, accepted: Iterable[Entry] = (), pending: Iterable[Entry] = (),
               resolved: Iterable[Entry] = (), settled: Iterable[Entry] = ()) -> None:
        """Add accepted, pending and settled entries; remove `resolved` pending entries (the vendor answered)."""


class InMemoryLedger:
    """The ledger in a dict, for tests; `writes` counts updates like the DynamoDB adapter's calls."""

    def __init__(self, now=None):
        import time

        self._now = now or time.time
        self._items: dict[Key, dict] = {}
        self._lock = threading.Lock()
        self.writes = 0

    def _item(self, key: Key) -> dict:
        return self._items.setdefault(key, {"accepted": set(), "pending": set(), "settled": set(),
                                            "owner": None, "until": 0.0})

    def _progress(self, key: Key) -> Progress:
        item = self._items.get(key)
        if item is None:
            return NO_PROGRESS
        return Progress(positions_in(item["accepted"]), positions_in(item["pending"]), positions_in(item["settled"]))

    def read(self, keys):
        with self._lock:
            return {key: self._progress(key) for key in keys}

    def claim(self, keys, owner, until_epoch):
        claimed: dict[Key, Progress | None] = {}
        with self._lock:
            for key in keys:
                item = self._item(key)
                self.writes += 1
                if item["owner"] not in (None, owner) and item["until"] >= self._now():
                    claimed[key] = None
                else:
                    item["owner"], item["until"] = owner, until_epoch
                    claimed[key] = self._progress(key)
        return claimed

    def release(self, keys, owner):
        with self._lock:
            for key in keys:
                item = self._items.get(key)
                if item and item["owner"] == owner:
                    item["owner"], item["until"] = None, 0.0
                    self.writes += 1

    def update(self, *, accepted=(), pending=(), resolved=(), settled=()):
        with self._lock:
            touched: set[Key] = set()
            for kind, entries in (("accepted", accepted), ("pending", pending), ("settled", settled)):
                for entry in entries:
                    self._item(entry.key)[kind].add(entry.element)
                    touched.add(entry.key)
            for entry in resolved:
                self._item(entry.key)["pending"].discard(entry.element)
                touched.add(entry.key)
            self.writes += len(touched)
