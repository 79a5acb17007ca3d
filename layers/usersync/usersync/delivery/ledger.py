"""The delivery ledger: what each delivery unit already got to each destination, so a retried
SQS message or file chunk never resends a batch a vendor accepted.

A unit (`Source.unit`: `sqs:<message id>` or `s3:<chunk>`) is what SQS or a chunk job retries as a
whole; a record is known in it by its position (index in the message, ordinal in the chunk), which
stays the same on every retry, whatever else the Lambda batch holds. Each call leaves, per unit,
an entry: a deterministic batch id (a hash of the unit, the destination and the positions) and
the positions. The ledger keeps, per (unit, destination):
- accepted: entries of calls the vendor accepted, written in one write with the call's token (so
  whenever the ledger says accepted, the token is saved); a retry skips those positions;
- pending: entries written just before a call carrying increments ($incr/$decr), removed once the
  vendor answered. An entry still pending on a retry is a call whose outcome nobody knows (a
  timeout, a lost response, a Lambda that died): its increments are not sent again (at most once);
- settled: records once they are in the failed-records queue (any reason), so a unit SQS delivers
  again does not report them twice; records that fail for every destination (not a record, no
  destination) are settled under the destination EVERY;
- a claim (owner, until) taken before sending increments, so two invocations that got the same
  message (SQS delivers at least once) never both send them.

The DynamoDB adapter is usersync.stores.ledger; InMemoryLedger is for tests.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from usersync.delivery.outcomes import Delivery
from usersync.records import Source

Key = tuple[str, str]  # (unit, destination)
EVERY = "*"  # the destination of outcomes that hold for every destination (never a destination's name)


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
    """The positions of one unit that one call carried to one destination (or, `tag`ged with their
    failure code, that one run reported)."""
    unit: str
    destination: str
    positions: tuple[int, ...]
    tag: str = ""

    @property
    def key(self) -> Key:
        return self.unit, self.destination

    @property
    def batch_id(self) -> str:
        ranges = encode_positions(self.positions)
        return hashlib.sha256(f"{self.unit}\n{self.destination}\n{ranges}{self.tag}".encode()).hexdigest()[:16]

    @property
    def element(self) -> str:
        """How the entry is stored: `<batch id>:<ranges>`, or `<tag>/<batch id>:<ranges>`."""
        prefix = f"{self.tag}/" if self.tag else ""
        return f"{prefix}{self.batch_id}:{encode_positions(self.positions)}"


def tagged_positions(elements: Iterable[str]) -> dict[str, frozenset[int]]:
    """Positions by tag (a failure code for settled entries; "" for none)."""
    found: dict[str, set[int]] = {}
    for element in elements:
        head, _, ranges = element.partition(":")
        tag = head.partition("/")[0] if "/" in head else ""
        found.setdefault(tag, set()).update(decode_positions(ranges))
    return {tag: frozenset(positions) for tag, positions in found.items()}


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
    tokens: frozenset[str] = frozenset()  # of the accepted calls that carried this unit
    codes: tuple[tuple[str, frozenset[int]], ...] = ()  # settled positions by failure code

    @property
    def uncertain(self) -> frozenset[int]:
        """Positions sent in a call whose outcome is unknown, not yet reported."""
        return self.pending - self.accepted - self.settled


NO_PROGRESS = Progress()


def progress_of(accepted: Iterable[str], pending: Iterable[str], settled: Iterable[str],
                tokens: Iterable[str]) -> Progress:
    """Progress from the stored elements of each kind."""
    codes = tagged_positions(settled)
    return Progress(positions_in(accepted), positions_in(pending), frozenset().union(*codes.values()),
                    frozenset(tokens), tuple(sorted(codes.items())))


class DeliveryLedger(Protocol):
    def read(self, keys: Iterable[Key]) -> dict[Key, Progress]:
        """Progress of each (unit, destination); NO_PROGRESS when nothing is known."""

    def claim(self, keys: Iterable[Key], owner: str, until_epoch: float) -> dict[Key, Progress | None]:
        """Take each key for `owner` until `until_epoch` (unless another owner holds it unexpired)
        and return its progress, read with the claim; None for a key held by another owner."""

    def release(self, keys: Iterable[Key], owner: str) -> None:
        """Give back the claims `owner` holds."""

    def accept(self, accepted: Iterable[Entry], *, resolved: Iterable[Entry], delivery: Delivery,
               erased: Mapping[tuple[str, int], str] | None = None) -> None:
        """The vendor accepted a call: its records' accepted marks, its cleared pending marks and its
        receipt (`delivery`: the token) in one atomic write; with the erasure receipts of the deletions
        it completed (`erased`: (unit, position) -> user id), each unit's with its marks."""

    def update(self, *, pending: Iterable[Entry] = (), resolved: Iterable[Entry] = (),
               settled: Iterable[Entry] = ()) -> None:
        """Add pending and settled entries; remove `resolved` pending entries (the vendor answered)."""


class InMemoryLedger:
    """The ledger in a dict, for tests; `writes` counts writes like the DynamoDB adapter's requests,
    `receipts` holds the accepted calls' deliveries (their tokens)."""

    def __init__(self, now=None):
        import time

        self._now = now or time.time
        self._items: dict[Key, dict] = {}
        self._lock = threading.Lock()
        self.writes = 0
        self.receipts: list[Delivery] = []
        self.erased: dict[str, list[str]] = {}  # user id -> destinations that confirmed its deletion

    def _item(self, key: Key) -> dict:
        return self._items.setdefault(key, {"accepted": set(), "pending": set(), "settled": set(), "tokens": set(),
                                            "owner": None, "until": 0.0})

    def _progress(self, key: Key) -> Progress:
        item = self._items.get(key)
        if item is None:
            return NO_PROGRESS
        return progress_of(item["accepted"], item["pending"], item["settled"], item["tokens"])

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

    def accept(self, accepted, *, resolved, delivery, erased=None):
        with self._lock:
            for user_id in (erased or {}).values():
                self.erased.setdefault(user_id, []).append(delivery.destination)
            for entry in accepted:
                item = self._item(entry.key)
                item["accepted"].add(entry.element)
                if delivery.token:
                    item["tokens"].add(delivery.token)
            for entry in resolved:
                self._item(entry.key)["pending"].discard(entry.element)
            self.receipts.append(delivery)
            self.writes += 1

    def update(self, *, pending=(), resolved=(), settled=()):
        with self._lock:
            touched: set[Key] = set()
            for kind, entries in (("pending", pending), ("settled", settled)):
                for entry in entries:
                    self._item(entry.key)[kind].add(entry.element)
                    touched.add(entry.key)
            for entry in resolved:
                self._item(entry.key)["pending"].discard(entry.element)
                touched.add(entry.key)
            self.writes += len(touched)
