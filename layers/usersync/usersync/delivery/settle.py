"""Settle: each call's outcome, matched in one place, becomes the records' outcomes, the ledger's
marks and the vendor's token (written together), and the follow-up calls the executor makes next.
It never plans again: what a follow-up sends was prepared by the plan (a merged payload's own
parts, a payload's sets without its increments) or is a part of the call (bisecting).

Per record and destination, exactly one outcome: delivered (its last step accepted), failed (with
a reason, for the failed-records queue) or retried (back to SQS with its unit).
"""

from __future__ import annotations

import functools
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any

from usersync.delivery.batching import chunks
from usersync.delivery.bisecting import BisectBudget, halves, worth_splitting
from usersync.delivery.checkpoints import Checkpoints
from usersync.delivery.execute import entries, pending_entries
from usersync.delivery.ledger import DeliveryLedger
from usersync.delivery.outcomes import (
    DRY_RUN, Accepted, CallResult, Delivery, RecordRejected, Rejected, SendResult, Uncertain, Unavailable,
    VendorRejected,
)
from usersync.delivery.plan import Calls, Part, Retry, has_increment, uncertain
from usersync.failures import FailedRecord, FailureCode
from usersync.observability import logger, propagate_trace
from usersync.records import SourcedRecord, UserDeletion


@dataclass(eq=False)
class Call:
    """Parts sent together; a bisecting search knows its budget and the half it was split from."""
    parts: list[Part]
    search: BisectBudget | None = None
    sibling: list[Part] | None = None  # the other half: split unsent if this one passes, sent if it fails


@dataclass(slots=True)
class FollowUps:
    """What the executor sends next: search calls as they are, and sequences of parts (one key's
    parts, in order) that go together with the other sequences' parts, one step per wave."""
    searches: list[Call] = field(default_factory=list)
    sequences: list[Sequence[Part]] = field(default_factory=list)


@dataclass(slots=True)
class Completion:
    """A record delivered to a destination (or validated only, by a dry run)."""
    destination: str
    item: SourcedRecord
    dry_run: bool = False


@dataclass(slots=True)
class Settled:
    """One destination's outcomes so far."""
    deliveries: list[Delivery] = field(default_factory=list)
    completions: list[Completion] = field(default_factory=list)
    failed: list[FailedRecord] = field(default_factory=list)
    retries: list[Retry] = field(default_factory=list)
    bisect_calls: int = 0


class Settler:
    def __init__(self, destination: Any, ledger: DeliveryLedger | None, checkpoints: Checkpoints,
                 writer: Executor | None = None):
        self.destination, self.name = destination, destination.name
        self.ledger, self.checkpoints = ledger, checkpoints
        # An accepted call's ledger write runs here while its worker sends the next call (a write takes
        # a fifth of a 50 ms call), unless it clears pending marks; `wait_for_writes` before the run
        # ends. None: written in the worker.
        self._writer = writer
        self._writes: list[Future] = []
        self.settled = Settled()
        self._done: set[int] = set()   # id() of the records that have their outcome (delivered, failed, retried)
        self._closed: set[int] = set()           # id() of groups whose later payloads must not be sent
        self._accepted_parts: dict[int, int] = {}  # id() of a group -> its payloads accepted so far
        self._held: set[str] = set()             # keys with a change going back to SQS: later ones wait
        self._lock = threading.RLock()

    # --- before a wave: what may still be sent ------------------------------------------------

    def admit(self, calls: Iterable[Call]) -> list[Call]:
        """The calls of a wave without the parts that must not go: later steps of a record that
        already has its outcome, and later changes of a user whose earlier change goes back to SQS."""
        admitted = []
        with self._lock:
            for call in calls:
                parts = []
                for part in call.parts:
                    if part.group is not None and id(part.group) in self._closed:
                        continue
                    if part.key in self._held:
                        self._retry([part], "an earlier change to this user will be retried first")
                        continue
                    parts.append(part)
                if parts:
                    admitted.append(Call(parts, call.search, call.sibling) if len(parts) < len(call.parts) else call)
        return admitted

    # --- one outcome ----------------------------------------------------------------------------

    def settle(self, call: Call, outcome: CallResult) -> FollowUps:
        match outcome:
            case Accepted(result):
                return self._accepted(call, result)
            case Rejected(error):
                return self._rejected(call, error)
            case Uncertain(reason):
                return self._uncertain(call, reason)
            case Unavailable(reason):
                logger.warning("destination unavailable, records go back to SQS",
                               extra={"destination": self.name, "records": len(call.parts), "reason": reason})
                with self._lock:
                    self._retry(call.parts, reason)
                return FollowUps()
        raise TypeError(f"not a call outcome: {outcome!r}")

    def _accepted(self, call: Call, result: SendResult) -> FollowUps:
        self.checkpoints.reach("vendor_accepted")
        follow = FollowUps()
        with self._lock:
            carried: list[SourcedRecord] = []
            completed: list[SourcedRecord] = []
            for index, part in enumerate(call.parts):
                why = result.rejected.get(index)
                if why is not None:
                    self._refused(part, why, follow, record_level=True)
                    continue
                carried.extend(part.records)
                if self._all_accepted(part):
                    completed.extend(item for item in part.records if id(item) not in self._done)
            resolved = pending_entries(self.name, call.parts)
            write = None
            if carried or result.token:
                delivery = Delivery(self.name, self.destination.vendor, result.token, result.token_kind, carried,
                                    result.context, call_id=uuid.uuid4().hex)
                if self.ledger is not None:
                    # The records' accepted marks and the call's token in one write: whenever the ledger
                    # says accepted, the token is saved too (and a deletion's erasure receipt).
                    write = functools.partial(self.ledger.accept, entries(self.name, completed), resolved=resolved,
                                              delivery=delivery, erased=erasures(completed))
                self.settled.deliveries.append(delivery)
            elif self.ledger is not None and resolved:  # every payload refused: a definite answer all the same
                write = functools.partial(self.ledger.update, resolved=resolved)
            dry_run = result.token_kind == DRY_RUN
            for item in completed:
                self._done.add(id(item))
                self.settled.completions.append(Completion(self.name, item, dry_run))
        self._write(write, clears_pending=bool(resolved))
        if call.sibling:  # this half passed: the other holds what sank their parent
            if len(call.sibling) > 1:
                return self._merge(follow, self._search(call.sibling, call.search, None))
            follow.searches.extend(self._searched(call.sibling, call.search, None))
        return follow

    def _write(self, write: Callable[[], None] | None, clears_pending: bool) -> None:
        def written() -> None:
            if write is not None:
                write()
            self.checkpoints.reach("accepted_written")
        # A write clearing pending marks lands before the follow-ups leave: a follow-up may carry the
        # same increments under the same entry, and a late clear would erase that call's mark.
        if self._writer is None or clears_pending:
            written()
        else:
            future = self._writer.submit(propagate_trace(written))
            with self._lock:
                self._writes.append(future)

    def wait_for_writes(self) -> None:
        """Every ledger write handed to the writer has landed; the first that failed raises (the
        invocation fails and SQS delivers its messages again, as when the write is in the worker)."""
        with self._lock:
            writes, self._writes = self._writes, []
        for future in writes:
            future.result()

    def _search(self, parts: list[Part], budget: BisectBudget, rejection: VendorRejected | None) -> FollowUps:
        """`parts` were rejected as a whole (or hold what sank their parent): send the left half,
        with the right half as its sibling. A record is failed only on its own rejection."""
        left, right = halves(parts)
        return FollowUps(searches=self._searched(left, budget, rejection, sibling=right))

    def _searched(self, parts: list[Part], budget: BisectBudget, rejection: VendorRejected | None,
                  sibling: list[Part] | None = None) -> list[Call]:
        """A search call, if the budget allows it; else its parts (and the sibling) fail as given up."""
        if budget.take():
            with self._lock:
                self.settled.bisect_calls += 1
            return [Call(parts, budget, sibling)]
        with self._lock:
            self._gave_up(parts + (sibling or []), rejection)
        return []

    def _rejected(self, call: Call, rejection: VendorRejected) -> FollowUps:
        """A whole call refused: bisected when a record's content may be the cause, else its records fail."""
        if self.ledger is not None and (resolved := pending_entries(self.name, call.parts)):
            self.ledger.update(resolved=resolved)  # a definite refusal: nothing was applied
        if worth_splitting(rejection, len(call.parts)):
            follow = self._search(call.parts, call.search or BisectBudget(len(call.parts)), rejection)
        else:
            logger.warning("destination rejected a call", extra={
                "destination": self.name, "records": len(call.parts), "status": rejection.status,
                "code": rejection.code})
            follow = FollowUps()
            why = RecordRejected(FailureCode.VENDOR_REJECTED, rejection.message or f"HTTP {rejection.status}", None,
                                 vendor_status=rejection.status, vendor_code=rejection.code,
                                 retryable=rejection.is_configuration_problem)
            with self._lock:
                for part in call.parts:
                    self._refused(part, why, follow, record_level=worth_splitting(rejection, 2))
        if call.sibling:  # this half failed: its sibling is sent whole, it may pass
            follow.searches.extend(self._searched(call.sibling, call.search, rejection))
        return follow

    def _uncertain(self, call: Call, reason: str) -> FollowUps:
        """Increments may have been applied: they fail as DELIVERY_UNCERTAIN, never resent; the
        call's sets go again, without them."""
        follow = FollowUps()
        with self._lock:
            for part in call.parts:
                if not part.increments:
                    follow.sequences.append([part])
                    continue
                self._close(part)
                for item in part.records:
                    if has_increment(item.record) and id(item) not in self._done:
                        self._done.add(id(item))
                        self.settled.failed.append(uncertain(item, self.name, reason))
                if part.sets_only:
                    follow.sequences.append(part.sets_only)
        return follow

    # --- records ---------------------------------------------------------------------------------

    def _refused(self, part: Part, why: RecordRejected, follow: FollowUps, *, record_level: bool) -> None:
        """The vendor refused `part`: a merged payload refused for its content is split back into
        its records' own payloads, which go together with the others' in the next calls."""
        self._close(part)
        if record_level and part.merged and part.unmerged and part.first_step:
            follow.sequences.append(part.unmerged)
            return
        for item in part.records:
            if id(item) not in self._done:
                self._done.add(id(item))
                self.settled.failed.append(FailedRecord.rejected(item, self.name, why))

    def _gave_up(self, parts: list[Part], rejection: VendorRejected | None) -> None:
        message = (rejection.message if rejection else "the vendor rejected a call holding it") + (
            " (the search for the bad records of a rejected call stopped at its limit: replay them to try again)")
        why = RecordRejected(FailureCode.VENDOR_REJECTED, message, None, retryable=True,
                             vendor_status=rejection.status if rejection else None,
                             vendor_code=rejection.code if rejection else None)
        for part in parts:
            self._refused(part, why, FollowUps(), record_level=False)

    def _retry(self, parts: list[Part], reason: str) -> None:
        for part in parts:
            self._close(part)
            self._held.add(part.key)
            for item in part.records:
                if id(item) not in self._done:
                    self._done.add(id(item))
                    self.settled.retries.append(Retry(item, self.name, reason))

    def _all_accepted(self, part: Part) -> bool:
        """Count `part` accepted; True once every payload of its change is."""
        if part.group is None:
            return True
        accepted = self._accepted_parts.get(id(part.group), 0) + 1
        self._accepted_parts[id(part.group)] = accepted
        return accepted >= part.group.size

    def _close(self, part: Part) -> None:
        if part.group is not None:
            self._closed.add(id(part.group))

    @staticmethod
    def _merge(a: FollowUps, b: FollowUps) -> FollowUps:
        a.searches.extend(b.searches)
        a.sequences.extend(b.sequences)
        return a


def erasures(items: Iterable[SourcedRecord]) -> dict[tuple[str, int], str]:
    """(unit, position) -> user id of the deletions among `items`."""
    return {(item.source.unit, item.source.position): item.record.user_id for item in items
            if isinstance(item.record, UserDeletion) and item.source.position is not None}


def follow_up_waves(followups: Iterable[FollowUps], batch_size: int) -> list[list[Call]]:
    """Sub-waves from the follow-ups of one wave's calls: the searches first, and the sequences' n-th
    parts together in wave n, as few calls as the batch size allows (a key is in one sequence only)."""
    searches: list[Call] = []
    sequences: list[Sequence[Part]] = []
    for follow in followups:
        searches.extend(follow.searches)
        sequences.extend(follow.sequences)
    waves: list[list[Call]] = []
    depth = max((len(s) for s in sequences), default=0)
    for n in range(depth):
        parts = [sequence[n] for sequence in sequences if len(sequence) > n]
        calls: Calls = chunks(parts, batch_size)
        waves.append([Call(call) for call in calls])
    if searches:
        if waves:
            waves[0] = searches + waves[0]
        else:
            waves.append(searches)
    return waves
