"""records -> per-destination batches -> calls -> outcomes (delivered, rejected, retry).

Pure logic: no AWS here (the ledger is a port). The caller stores tokens, sends failed records to
the queue and hands retries back to SQS (usersync.work.deliver).

Per destination: skip what the ledger says was delivered, map each record (a record the vendor
cannot take fails alone), coalesce each user's changes, plan calls in waves (a user at most once
per call, in order), send under the destination's throttle with retries inside the invocation's
deadline, bisect a bulk rejected as a whole, and record accepted calls in the ledger.
"""

from __future__ import annotations

import functools
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from usersync.delivery.batching import generations
from usersync.delivery.bisecting import BisectBudget, halves, worth_splitting
from usersync.delivery.coalescing import coalesce
from usersync.delivery.destination import Destination
from usersync.delivery.ledger import NO_PROGRESS, DeliveryLedger, Entry, Key, Progress, position_of
from usersync.delivery.outcomes import (
    DRY_RUN,
    Delivery, Prepared, RecordRejected, SendResult, VendorRejected, VendorUnavailable,
)
from usersync.delivery.routing import route
from usersync.delivery.retries import SYSTEM_CLOCK, Backoff, Clock, Deadline, SharedRandom, may_have_applied
from usersync.delivery.settings import delivery_settings
from usersync.delivery.throttle import Throttles
from usersync.observability import logger, propagate_trace, tracer
from usersync.records import Increment, Record, SourcedRecord, Unparsable, UserChange
from usersync.failures import FailedRecord, FailureCode

CLAIM_MARGIN_S = 5.0  # a claim outlives the invocation's deadline by this much (clock skew)


@dataclass(slots=True)
class Retry:
    """A record not delivered to `destination` for a reason that may pass: SQS retries it."""
    item: SourcedRecord
    destination: str
    reason: str


@dataclass(slots=True)
class CallStat:
    """One vendor call, for metrics: `outcome` is accepted, rejected, throttled or unavailable."""
    destination: str
    outcome: str
    records: int
    latency_s: float


@dataclass(slots=True)
class DeliveryReport:
    deliveries: list[Delivery] = field(default_factory=list)
    failed: list[FailedRecord] = field(default_factory=list)
    retries: list[Retry] = field(default_factory=list)
    calls: list[CallStat] = field(default_factory=list)
    already_delivered: int = 0  # records the ledger showed delivered by an earlier attempt
    already_reported: int = 0   # uncertain increments an earlier attempt put in the failed-records queue
    bisect_calls: int = 0       # extra calls spent isolating records in rejected bulks

    @property
    def delivered(self) -> dict[str, int]:
        return self._count(dry_run=False)

    @property
    def validated(self) -> dict[str, int]:
        """Records a dry-run destination's vendor accepted without writing them (not delivered)."""
        return self._count(dry_run=True)

    def _count(self, *, dry_run: bool) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for delivery in self.deliveries:
            if (delivery.token_kind == DRY_RUN) is dry_run:
                counts[delivery.destination] += len(delivery.items)
        return dict(counts)

    def extend(self, other: DeliveryReport) -> None:
        self.deliveries.extend(other.deliveries)
        self.failed.extend(other.failed)
        self.retries.extend(other.retries)
        self.calls.extend(other.calls)
        self.already_delivered += other.already_delivered
        self.already_reported += other.already_reported
        self.bisect_calls += other.bisect_calls


@dataclass
class DeliveryOptions:
    """What one delivery run works with besides records and destinations."""
    ledger: DeliveryLedger | None = None
    deadline: Deadline | None = None           # None: no Lambda deadline (local runs)
    throttles: Throttles | None = None          # keep one across invocations: pacing learns
    clock: Clock = SYSTEM_CLOCK
    rng: Any = field(default_factory=SharedRandom)
    owner: str = field(default_factory=lambda: str(uuid.uuid4()))  # the invocation, in ledger claims
    coalesce: bool = True


def repeatable(record: Record) -> bool:
    """Whether sending the record twice has the effect of sending it once."""
    return not (isinstance(record, UserChange) and any(isinstance(op, Increment) for op in record.attributes.values()))


def deliver(items: Iterable[SourcedRecord | Unparsable], destinations: Mapping[str, Destination],
            options: DeliveryOptions | None = None) -> DeliveryReport:
    options = options or DeliveryOptions()
    report = DeliveryReport()
    routed = {name: batch for name, batch in route(items, destinations, report.failed).items() if batch}
    if not routed:
        return report
    deadline = options.deadline or Deadline.unlimited(options.clock)
    throttles = options.throttles or Throttles(options.clock)
    progress, claimed = _consult_ledger(routed, options, deadline)
    try:
        runs = [_DestinationRun(destinations[name], options, deadline, throttles, progress) for name in routed]
        with ThreadPoolExecutor(max_workers=len(runs), thread_name_prefix="destination") as pool:
            for partial in pool.map(propagate_trace(lambda run: run.run(routed[run.name])), runs):
                report.extend(partial)
    finally:
        if claimed:
            options.ledger.release(claimed, options.owner)
    return report


def _consult_ledger(routed: dict[str, list[SourcedRecord]], options: DeliveryOptions,
                    deadline: Deadline) -> tuple[dict[Key, Progress | None], list[Key]]:
    """Progress of every (unit, destination) in this run, claiming those with increments first
    (None: another invocation holds the claim). Returns it and the keys claimed."""
    if options.ledger is None:
        return {}, []
    once: set[Key] = set()
    others: set[Key] = set()
    for name, items in routed.items():
        for item in items:
            if position_of(item.source) is not None:
                (others if repeatable(item.record) else once).add((item.source.unit, name))
    claims = options.ledger.claim(sorted(once), options.owner, deadline.ends_at_epoch + CLAIM_MARGIN_S) if once else {}
    progress: dict[Key, Progress | None] = dict(options.ledger.read(sorted(others - once))) if others - once else {}
    progress.update(claims)
    return progress, [key for key, value in claims.items() if value is not None]


class _DestinationRun:
    """Delivery of one run's records to one destination."""

    def __init__(self, destination: Destination, options: DeliveryOptions, deadline: Deadline,
                 throttles: Throttles, progress: dict[Key, Progress | None]):
        self.destination, self.name = destination, destination.name
        self.options, self.deadline, self.progress = options, deadline, progress
        self.settings = delivery_settings(destination)
        self.throttle = throttles.get(self.name, self.settings.concurrency, self.settings.rate_per_s)
        self.backoff = Backoff(self.settings.backoff_base_s, self.settings.backoff_max_s, self.settings.max_attempts)
        self.report = DeliveryReport()
        self._count_lock = threading.Lock()
        self._writes: list[Future] = []  # ledger writes handed off the calls' path (_accepted)

    # --- from records to prepared payloads ---------------------------------------------------

    def run(self, items: list[SourcedRecord]) -> DeliveryReport:
        prepared = []
        for item in self._not_yet_delivered(items):
            try:
                prepared.append(self._prepare(item))
            except RecordRejected as why:
                self.report.failed.append(FailedRecord.rejected(item, self.name, why))
        # Leaving the block waits for every ledger write handed off by _accepted: when the run
        # returns (or raises), the ledger holds what it would hold had they been written inline.
        with ThreadPoolExecutor(max_workers=self.settings.concurrency,
                                thread_name_prefix=f"{self.name}-ledger") as self._writer:
            self._deliver(prepared, coalescing=self.options.coalesce)
        for write in self._writes:
            write.result()  # re-raises the first failed write
        return self.report

    def _prepare(self, item: SourcedRecord) -> Prepared:
        return Prepared(item, self.destination.prepare(item.record), self.destination.key(item.record),
                        repeatable=repeatable(item.record))

    def _not_yet_delivered(self, items: list[SourcedRecord]) -> list[SourcedRecord]:
        """Items the ledger has not seen delivered. An increment sent in a call whose outcome is
        unknown is failed as DELIVERY_UNCERTAIN, never sent again automatically."""
        if self.options.ledger is None:
            return items
        todo = []
        for item in items:
            position = position_of(item.source)
            if position is None:
                todo.append(item)
                continue
            progress = self.progress.get((item.source.unit, self.name), NO_PROGRESS)
            if progress is None:
                self.report.retries.append(Retry(item, self.name, "another invocation is delivering this message"))
            elif position in progress.accepted:
                self.report.already_delivered += 1
            elif position in progress.settled:
                self.report.already_reported += 1
            elif position in progress.uncertain:
                self.report.failed.append(self._uncertain(item, "an earlier attempt sent it and got no answer"))
            else:
                todo.append(item)
        return todo

    def _coalesced(self, prepared: list[Prepared]) -> list[Prepared]:
        """Each user's changes merged into as few payloads as apply the same (delivery.coalescing)."""
        by_key: dict[str, list[int]] = defaultdict(list)
        for position, p in enumerate(prepared):
            by_key[p.key].append(position)
        # A merged payload takes the place of its first change; the others' places stay empty.
        result: list[Prepared | None] = list(prepared)
        for key, positions in by_key.items():
            group = [prepared[position] for position in positions]
            if len(group) == 1 or not all(isinstance(p.item.record, UserChange) for p in group):
                continue
            for change, indexes in coalesce([p.item.record for p in group]):
                if len(indexes) == 1:
                    continue
                try:
                    payload = self.destination.prepare(change)
                except RecordRejected:  # each part passed alone: keep them apart
                    continue
                parts = [group[i].item for i in indexes]
                result[positions[indexes[0]]] = Prepared(parts[0], payload, key, tuple(parts[1:]), repeatable(change))
                for i in indexes[1:]:
                    result[positions[i]] = None
        return [p for p in result if p is not None]

    # --- waves of calls -----------------------------------------------------------------------

    def _deliver(self, prepared: list[Prepared], coalescing: bool) -> None:
        if coalescing:
            prepared = self._coalesced(prepared)
        # Generation n holds each user's n-th change: sending generation by generation keeps
        # a user's changes in order and never puts one user twice in a call.
        # A destination whose calls group records otherwise (Batch audiences) plans them itself.
        waves = getattr(self.destination, "plan_calls", generations)(prepared, self.destination.batch_size)
        retried_keys: set[str] = set()
        with ThreadPoolExecutor(max_workers=self.settings.concurrency, thread_name_prefix=self.name) as pool:
            for wave in waves:
                batches = []
                for batch in wave:
                    # A later change must not overtake an earlier one of the same user that will be retried.
                    waiting = [p for p in batch if p.key in retried_keys]
                    self._retry(waiting, "an earlier change to this user will be retried first")
                    if len(waiting) < len(batch):
                        batches.append([p for p in batch if p.key not in retried_keys])
                before = len(self.report.retries)
                list(pool.map(propagate_trace(self._deliver_batch), batches))
                retried_keys |= {self.destination.key(r.item.record) for r in self.report.retries[before:]}

    def _deliver_batch(self, batch: list[Prepared]) -> None:
        self._settle(batch, self._call(batch))

    def _settle(self, batch: list[Prepared], outcome, budget: BisectBudget | None = None) -> bool:
        """Act on a call's outcome; True when the vendor accepted the call."""
        if isinstance(outcome, SendResult):
            self._accepted(batch, outcome)
            return True
        if isinstance(outcome, VendorRejected):
            if worth_splitting(outcome, len(batch)):
                self._bisect(batch, outcome, budget or BisectBudget(len(batch)))
            else:
                self._rejected(batch, outcome)
        elif isinstance(outcome, _Uncertain):
            once = [p for p in batch if not p.repeatable]
            for p in once:
                self.report.failed.extend(self._uncertain(item, str(outcome.error)) for item in p.items)
            rest = [p for p in batch if p.repeatable]
            if rest:
                self._settle(rest, self._call(rest), budget)
        else:
            logger.warning("destination unavailable, records go back to SQS",
                           extra={"destination": self.name, "records": len(batch), "reason": str(outcome)})
            self._retry(batch, str(outcome))
        return False

    # --- one call, retried within the invocation ----------------------------------------------

    def _call(self, batch: list[Prepared]):
        """Send `batch`, retrying transient failures with backoff while the deadline allows.
        Returns a SendResult, a VendorRejected, a VendorUnavailable (given up: back to SQS) or
        _Uncertain (increments sent and no answer: never resent)."""
        payloads = [p.payload for p in batch]
        pending = self._entries([p for p in batch if not p.repeatable])
        pending_written = False
        timeout = self.settings.timeout_s
        for attempt in range(self.backoff.max_attempts):
            permit = self.throttle.acquire(self.deadline, needs_s=timeout) if self.deadline.allows(timeout) else None
            if permit is None:
                return VendorUnavailable(f"{self.name}: no time left for another call before the Lambda timeout")
            if pending and not pending_written:
                try:  # marked just before sending: a mark never stands for a call that was not made
                    self.options.ledger.update(pending=pending)
                except Exception:
                    self.throttle.release(permit)
                    raise
                pending_written = True
            started = self.options.clock.now()
            try:
                with tracer.provider.in_subsegment(f"## {self.name} send") as subsegment:
                    subsegment.put_annotation("destination", self.name)
                    subsegment.put_metadata("records", len(batch), "usersync")
                    result = self.destination.send(payloads)
            except VendorRejected as rejection:
                self._stat("rejected", batch, started)
                self.throttle.release(permit)
                if pending:
                    self.options.ledger.update(resolved=pending)
                return rejection
            except VendorUnavailable as exc:
                error = exc
            except Exception as exc:  # noqa: BLE001 - anything unexpected is retried, never lost
                logger.exception("unexpected error sending to destination", extra={"destination": self.name})
                error = VendorUnavailable(f"{type(exc).__name__}: {exc}", maybe_applied=True)
            else:
                self._stat("accepted", batch, started)
                self.throttle.release(permit)
                return result
            throttled = error.status == 429
            self._stat("throttled" if throttled else "unavailable", batch, started)
            self.throttle.release(permit, throttled=throttled, retry_after_s=error.retry_after_s)
            if pending:
                if may_have_applied(error):
                    return _Uncertain(error)
                self.options.ledger.update(resolved=pending)
                pending_written = False
            if attempt + 1 == self.backoff.max_attempts:
                break
            delay = self.backoff.delay(attempt, error.retry_after_s, self.options.rng)
            if not self.deadline.allows(delay + timeout):
                return VendorUnavailable(f"{error} (no time left to retry before the Lambda timeout)",
                                         status=error.status)
            logger.info("retrying a call", extra={"destination": self.name, "attempt": attempt + 1,
                                                  "delay_s": round(delay, 3), "reason": str(error)})
            self.options.clock.sleep(delay)
        return error

    def _stat(self, outcome: str, batch: list[Prepared], started: float) -> None:
        records = sum(len(p.items) for p in batch)
        self.report.calls.append(CallStat(self.name, outcome, records, self.options.clock.now() - started))

    # --- outcomes -----------------------------------------------------------------------------

    def _accepted(self, batch: list[Prepared], result: SendResult) -> None:
        if self.options.ledger is not None:
            done = [p for i, p in enumerate(batch) if i not in result.rejected]
            pending = self._entries([p for p in batch if not p.repeatable])
            # Written off the worker's path, before run() returns. A crash before it lands only leaves
            # this call unrecorded: sets are resent (at least once), increments stay pending and are
            # reported DELIVERY_UNCERTAIN, never resent (their pending mark was written before the call).
            update = functools.partial(self.options.ledger.update, accepted=self._entries(done), resolved=pending)
            self._writes.append(self._writer.submit(propagate_trace(update)))
        accepted = [item for i, p in enumerate(batch) if i not in result.rejected for item in p.items]
        for index, why in result.rejected.items():
            self._record_rejected([batch[index]], why)
        if accepted or result.token:
            self.report.deliveries.append(Delivery(self.name, self.destination.vendor, result.token,
                                                   result.token_kind, accepted, result.context))

    def _rejected(self, batch: list[Prepared], rejection: VendorRejected, *, gave_up: bool = False) -> None:
        logger.warning("destination rejected a call", extra={
            "destination": self.name, "records": len(batch), "status": rejection.status, "code": rejection.code})
        message = rejection.message or f"HTTP {rejection.status}"
        if gave_up:
            message += (f" (rejected in a call of {len(batch)} records; the search for the bad ones stopped "
                        "at its limit: replay them to try again)")
        why = RecordRejected(FailureCode.VENDOR_REJECTED, message, None, vendor_status=rejection.status,
                             vendor_code=rejection.code,
                             retryable=gave_up or rejection.is_configuration_problem)
        self._record_rejected(batch, why, record_level=worth_splitting(rejection, 2) and not gave_up)

    def _record_rejected(self, batch: list[Prepared], why: RecordRejected, record_level: bool = True) -> None:
        """Fail the records of `batch`; a coalesced payload refused for its content is split back
        into its changes, sent one wave each, so only the bad one fails."""
        for p in batch:
            if record_level and p.merged:
                self._deliver([self._prepare(item) for item in p.items], coalescing=False)
            else:
                self.report.failed.extend(FailedRecord.rejected(item, self.name, why) for item in p.items)

    def _bisect(self, batch: list[Prepared], rejection: VendorRejected, budget: BisectBudget) -> None:
        """`batch` was rejected as a whole: send its halves until the bad records stand alone."""
        left, right = halves(batch)
        if self._send_part(left, rejection, budget) and len(right) > 1:
            # The left half went through, so the right one holds what sank their parent: split it
            # without sending it whole. A record is failed only on its own rejection, never inferred.
            self._bisect(right, rejection, budget)
        else:
            self._send_part(right, rejection, budget)

    def _send_part(self, part: list[Prepared], rejection: VendorRejected, budget: BisectBudget) -> bool:
        if not budget.take():
            self._rejected(part, rejection, gave_up=True)
            return False
        with self._count_lock:
            self.report.bisect_calls += 1
        return self._settle(part, self._call(part), budget)

    def _retry(self, batch: list[Prepared], reason: str) -> None:
        self.report.retries.extend(Retry(item, self.name, reason) for p in batch for item in p.items)

    def _uncertain(self, item: SourcedRecord, what: str) -> FailedRecord:
        return FailedRecord(
            item.raw, item.source, self.name, FailureCode.DELIVERY_UNCERTAIN,
            f"{self.name} may have applied this record: {what}. It holds an increment, which usersync "
            "never sends twice on its own: check the user at the vendor, then replay the record if it "
            "was not applied", retryable=True)

    def _entries(self, prepared: list[Prepared]) -> list[Entry]:
        """Ledger entries (one per unit) for the records of `prepared`."""
        if self.options.ledger is None:
            return []
        by_unit: dict[str, list[int]] = defaultdict(list)
        for p in prepared:
            for item in p.items:
                position = position_of(item.source)
                if position is not None:
                    by_unit[item.source.unit].append(position)
        return [Entry(unit, self.name, tuple(sorted(positions))) for unit, positions in by_unit.items()]


def uncertain_entries(failed: Iterable[FailedRecord]) -> list[Entry]:
    """Ledger entries of the DELIVERY_UNCERTAIN failures in `failed`: once they are in the
    failed-records queue, settle them so a redelivered message does not report them again."""
    by_key: dict[Key, list[int]] = defaultdict(list)
    for failure in failed:
        position = position_of(failure.source)
        if failure.code == FailureCode.DELIVERY_UNCERTAIN and failure.destination and position is not None:
            by_key[(failure.source.unit, failure.destination)].append(position)
    return [Entry(unit, destination, tuple(sorted(positions))) for (unit, destination), positions in by_key.items()]


@dataclass(frozen=True, slots=True)
class _Uncertain:
    """A call holding increments failed after it was sent: the vendor may have applied it."""
    error: VendorUnavailable
