"""One delivery run: records -> route -> (per destination) plan -> execute -> settle -> a report.

Data flows one way: routing and the ledger's progress feed the plan (pure); the executor sends the
plan's calls wave by wave; settling each outcome writes the ledger (marks and tokens together) and
hands follow-up calls back to the executor. No AWS here but the ledger port; the caller
(usersync.delivery.service) sends the failed records to their queue and tells the ledger.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from usersync.delivery.checkpoints import Checkpoints
from usersync.delivery.destination import Destination
from usersync.delivery.execute import CallStat, Executor
from usersync.delivery.ledger import EVERY, NO_PROGRESS, DeliveryLedger, Key, Progress
from usersync.delivery.outcomes import Delivery
from usersync.delivery.plan import DestinationPlan, Retry, has_increment, plan
from usersync.delivery.retries import SYSTEM_CLOCK, Clock, Deadline, SharedRandom
from usersync.delivery.routing import route
from usersync.delivery.settings import delivery_settings
from usersync.delivery.settle import Call, Completion, Settler, follow_up_waves
from usersync.delivery.throttle import Throttles
from usersync.failures import FailedRecord
from usersync.observability import propagate_trace
from usersync.records import Source, SourcedRecord, Unparsable

CLAIM_MARGIN_S = 5.0  # a claim outlives the invocation's deadline by this much (clock skew)


@dataclass(slots=True)
class DeliveryReport:
    deliveries: list[Delivery] = field(default_factory=list)       # accepted calls, with their tokens
    completions: list[Completion] = field(default_factory=list)    # records delivered, per destination
    failed: list[FailedRecord] = field(default_factory=list)
    retries: list[Retry] = field(default_factory=list)
    calls: list[CallStat] = field(default_factory=list)
    routed: dict[str, list[Source]] = field(default_factory=dict)  # every record each destination was due
    already_delivered: int = 0  # records the ledger showed delivered by an earlier attempt
    already_reported: int = 0   # records an earlier attempt put in the failed-records queue
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
        for completion in self.completions:
            if completion.dry_run is dry_run:
                counts[completion.destination] += 1
        return dict(counts)


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
    checkpoints: Checkpoints = field(default_factory=Checkpoints)


def deliver(items: Iterable[SourcedRecord | Unparsable], destinations: Mapping[str, Destination],
            options: DeliveryOptions | None = None) -> DeliveryReport:
    options = options or DeliveryOptions()
    report = DeliveryReport()
    unroutable: list[FailedRecord] = []
    routed = {name: batch for name, batch in route(items, destinations, unroutable).items() if batch}
    report.routed = {name: [item.source for item in batch] for name, batch in routed.items()}
    deadline = options.deadline or Deadline.unlimited(options.clock)
    throttles = options.throttles or Throttles(options.clock)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger") as reader:
        # The ledger's answer (claims, then progress) comes while the destinations map their records.
        consulted = reader.submit(propagate_trace(_consult_ledger), routed, unroutable, options, deadline)
        try:
            runs = [_DestinationRun(destinations[name], batch, lambda: consulted.result()[0], options, deadline,
                                    throttles) for name, batch in routed.items()]
            if runs:
                with ThreadPoolExecutor(max_workers=len(runs), thread_name_prefix="destination") as pool:
                    runs = list(pool.map(propagate_trace(_DestinationRun.run), runs))
            report.failed.extend(_not_yet_reported(unroutable, consulted.result()[0], report))
            for run in runs:
                run.into(report)
        finally:
            claimed = consulted.result()[1] if consulted.exception() is None else []
            if claimed:
                options.ledger.release(claimed, options.owner)
    return report


def _consult_ledger(routed: dict[str, list[SourcedRecord]], unroutable: list[FailedRecord],
                    options: DeliveryOptions, deadline: Deadline) -> tuple[dict[Key, Progress | None], list[Key]]:
    """Progress of every (unit, destination) in this run, claiming those with increments first
    (None: another invocation holds the claim). Returns it and the keys claimed."""
    if options.ledger is None:
        return {}, []
    once: set[Key] = set()
    others: set[Key] = {(f.source.unit, f.destination or EVERY) for f in unroutable if f.source.position is not None}
    for name, items in routed.items():
        for item in items:
            if item.source.position is not None:
                (once if has_increment(item.record) else others).add((item.source.unit, name))
    claims = options.ledger.claim(sorted(once), options.owner, deadline.ends_at_epoch + CLAIM_MARGIN_S) if once else {}
    progress: dict[Key, Progress | None] = dict(options.ledger.read(sorted(others - once))) if others - once else {}
    progress.update(claims)
    return progress, [key for key, value in claims.items() if value is not None]


def _not_yet_reported(failures: list[FailedRecord], progress: dict[Key, Progress | None],
                      report: DeliveryReport) -> list[FailedRecord]:
    """Routing failures an earlier attempt did not already put in the failed-records queue."""
    kept = []
    for failure in failures:
        known = progress.get((failure.source.unit, failure.destination or EVERY)) or NO_PROGRESS
        if failure.source.position is not None and failure.source.position in known.settled:
            report.already_reported += 1
        else:
            kept.append(failure)
    return kept


class _DestinationRun:
    """One destination's part of a run: its plan, executed wave by wave, each outcome settled."""

    def __init__(self, destination: Destination, items: list[SourcedRecord],
                 progress: Callable[[], dict[Key, Progress | None]], options: DeliveryOptions, deadline: Deadline,
                 throttles: Throttles):
        self.destination = destination
        self.items, self.progress, self.coalescing = items, progress, options.coalesce
        self.plan = DestinationPlan(destination.name)  # made by `run`
        settings = delivery_settings(destination)
        self.concurrency = settings.concurrency
        throttle = throttles.get(destination.name, settings.concurrency, settings.rate_per_s)
        pacing = getattr(destination, "record_pacing", None)
        self.executor = Executor(destination, settings, throttle, deadline, options.clock, options.rng,
                                 options.ledger, options.checkpoints, throttles.bucket(pacing) if pacing else None)
        self._writer = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix=f"{destination.name}-ledger")
        self.settler = Settler(destination, options.ledger, options.checkpoints, self._writer)

    def run(self) -> _DestinationRun:
        # Planned in this destination's thread: its first call does not wait for the others' mapping.
        self.plan = plan(self.destination, self.items, self.progress, coalescing=self.coalescing)
        try:
            with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix=self.destination.name) as pool:
                for wave in self.plan.waves:
                    pending = [[Call(parts) for parts in wave]]
                    while pending:
                        calls = self.settler.admit(pending.pop(0))
                        followups = list(pool.map(propagate_trace(self._call), calls))
                        pending = follow_up_waves(followups, self.destination.batch_size) + pending
        finally:
            self._writer.shutdown(wait=True)  # the run (and the claims' release after it) ends after its writes
        self.settler.wait_for_writes()
        return self

    def _call(self, call: Call):
        return self.settler.settle(call, self.executor.send(call.parts))

    def into(self, report: DeliveryReport) -> None:
        settled = self.settler.settled
        report.deliveries.extend(settled.deliveries)
        report.completions.extend(settled.completions)
        report.failed.extend(self.plan.failed + settled.failed)
        report.retries.extend(self.plan.retries + settled.retries)
        report.calls.extend(self.executor.stats)
        report.already_delivered += self.plan.already_delivered
        report.already_reported += self.plan.already_reported
        report.bisect_calls += settled.bisect_calls
