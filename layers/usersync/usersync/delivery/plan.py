"""Plan: one destination's records and what the ledger knows about them -> the calls to make.

Pure: no I/O, no clock. In order:
1. skip what an earlier attempt finished (the ledger: accepted, or reported to the failed-records
   queue); an increment an earlier attempt sent without an answer is reported, never resent;
2. map each record alone (`prepare_steps`): a record the vendor cannot take fails alone, with its field
   (mapped before 1., while the ledger answers: a retry maps what it then skips);
3. coalesce each user's changes into as few payloads as apply the same (usersync.delivery.coalescing),
   every record keeping its identity; a payload carrying increments knows its sets without them, and a
   merged payload knows its records' own payloads, so settling can resend them without planning again;
4. cut calls: generation n holds each user's n-th payload, so a user is at most once per call and its
   changes stay in order (a destination may group calls otherwise: `plan_calls`).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from usersync.delivery.batching import chunks
from usersync.delivery.coalescing import coalesce
from usersync.delivery.destination import Destination
from usersync.delivery.ledger import Progress
from usersync.delivery.outcomes import RecordRejected
from usersync.failures import FailedRecord, FailureCode
from usersync.records import Increment, Record, SourcedRecord, UserChange


def has_increment(record: Record) -> bool:
    """Whether sending the record twice applies it twice ($incr, $decr): at most once, then."""
    if isinstance(record, UserChange):
        for op in record.attributes.values():  # a loop, not any(): this runs for every record
            if isinstance(op, Increment):
                return True
    return False


def without_increments(change: UserChange) -> UserChange | None:
    """The change's sets alone (None when it holds nothing else): what can be resent safely."""
    kept = {name: op for name, op in change.attributes.items() if not isinstance(op, Increment)}
    if not kept and not change.overwrite:
        return None
    return change.model_copy(update={"attributes": kept})


class Group:
    """The payloads one change became at one destination (its steps, or one per audience and install
    id): its records are delivered once every one of them is accepted; a closed group sends no more."""
    __slots__ = ("size",)

    def __init__(self, size: int):
        self.size = size


@dataclass(slots=True, eq=False)
class Part:
    """One payload of one call: one record's change at one destination (or several records of one
    user coalesced), or one step of it when the vendor applies it in several calls."""
    payload: Any
    key: str                                # the vendor's user key: at most once per call
    records: tuple[SourcedRecord, ...]      # the records it stands for, in order
    group: Group | None = None              # the payloads of one change (None: a lone part)
    step: int = 0
    kind: str = "update"                    # what kind of call carries it: calls never mix kinds (updates, deletions)
    increments: bool = False                # sending it twice would apply it twice
    sets_only: tuple[Part, ...] = ()        # with increments: this step and the next without them, safe to resend
    unmerged: tuple[Part, ...] = ()         # merged: each record's own payloads, in order, if it is refused

    @property
    def merged(self) -> bool:
        return len(self.records) > 1

    @property
    def first_step(self) -> bool:
        return self.step == 0


Calls = list[list[Part]]  # one wave: calls that may run at once (no key twice)


@dataclass(slots=True)
class Retry:
    """A record not delivered to `destination` for a reason that may pass: SQS retries it."""
    item: SourcedRecord
    destination: str
    reason: str


@dataclass(slots=True)
class DestinationPlan:
    destination: str
    waves: list[Calls] = field(default_factory=list)
    failed: list[FailedRecord] = field(default_factory=list)   # refused before any call
    retries: list[Retry] = field(default_factory=list)
    already_delivered: int = 0   # the ledger shows them delivered by an earlier attempt
    already_reported: int = 0    # an earlier attempt put them in the failed-records queue


def uncertain(item: SourcedRecord, destination: str, what: str) -> FailedRecord:
    return FailedRecord(
        item.raw, item.source, destination, FailureCode.DELIVERY_UNCERTAIN,
        f"{destination} may have applied this record: {what}. It holds an increment, which usersync "
        "never sends twice on its own: check the user at the vendor, then replay the record if it "
        "was not applied", retryable=True)


def plan(destination: Destination, items: Sequence[SourcedRecord],
         progress: Mapping[tuple[str, str], Progress | None] | Callable[[], Mapping[tuple[str, str], Progress | None]],
         *, coalescing: bool = True) -> DestinationPlan:
    """The calls that deliver `items` to `destination`, given the ledger's `progress` per (unit, destination).
    `progress` may be a function giving it: it is asked once every record is mapped, so the ledger's
    answer (a DynamoDB round trip) arrives while they are (mapping is pure: the order does not matter)."""
    name = destination.name
    result = DestinationPlan(name)
    mapped = [(item, _mapped(destination, item)) for item in items]
    known = progress() if callable(progress) else progress
    parts: list[Part] = []
    prepared: list[tuple[SourcedRecord, list[Part]]] = []
    for item, outcome in mapped:
        if not _still_to_do(item, name, known, result):
            continue
        if isinstance(outcome, FailedRecord):
            result.failed.append(outcome)
        else:
            prepared.append((item, outcome))
    for group in (_coalesced(destination, prepared) if coalescing else [own for _, own in prepared]):
        parts.extend(group)
    plan_calls = getattr(destination, "plan_calls", None)
    result.waves = plan_calls(parts, destination.batch_size) if plan_calls else \
        generations(parts, destination.batch_size, getattr(destination, "call_limits", None))
    return result


def _mapped(destination: Destination, item: SourcedRecord) -> list[Part] | FailedRecord:
    """The record's parts, or why the destination cannot take it."""
    try:
        return _parts(destination, item.record, (item,))
    except RecordRejected as why:
        return FailedRecord.rejected(item, destination.name, why)
    except Exception as error:  # noqa: BLE001 - one record's mapping bug must not sink the others
        return FailedRecord(item.raw, item.source, destination.name, FailureCode.INVALID_RECORD,
                            f"{destination.name} cannot map this record: {type(error).__name__}: {error}")


def _still_to_do(item: SourcedRecord, name: str, progress: dict, result: DestinationPlan) -> bool:
    position = item.source.position
    if position is None or not progress:
        return True
    known = progress.get((item.source.unit, name), Progress())
    if known is None:
        result.retries.append(Retry(item, name, "another invocation is delivering this message"))
    elif position in known.accepted:
        result.already_delivered += 1
    elif position in known.settled:
        result.already_reported += 1
    elif position in known.pending:
        result.failed.append(uncertain(item, name, "an earlier attempt sent it and got no answer"))
    else:
        return True
    return False


def _parts(destination: Destination, record: Record, items: tuple[SourcedRecord, ...]) -> list[Part]:
    """The record's payloads at `destination` (usually one; more when the vendor needs several calls,
    in order when they share a key)."""
    steps = destination.prepare_steps(record)
    if not steps:
        raise ValueError(f"{destination.name} made no payload of a record it takes")
    group = Group(len(steps))
    key_of = getattr(destination, "part_key", lambda record, payload: destination.key(record))
    kind_of = getattr(destination, "call_kind", lambda payload: "update")
    parts = [Part(payload, key_of(record, payload), items, group, step, kind_of(payload))
             for step, payload in enumerate(steps)]
    if has_increment(record):
        rest = without_increments(record) if isinstance(record, UserChange) else None
        sets = _parts(destination, rest, items) if rest is not None else []
        for part in parts:  # a step that differs from its sets-only twin holds increments
            if part.step >= len(sets) or sets[part.step].payload != part.payload:
                rest_steps = sets[part.step:]
                if part.step:  # the steps left are a change of their own: delivered once they all are
                    regrouped = Group(len(rest_steps))
                    rest_steps = [dataclasses.replace(step, group=regrouped) for step in rest_steps]
                part.increments, part.sets_only = True, tuple(rest_steps)
    return parts


def _coalesced(destination: Destination, prepared: list[tuple[SourcedRecord, list[Part]]]) -> list[list[Part]]:
    """Each user's consecutive changes merged into as few payloads as apply the same (a deletion
    between them stays where it is: the last action wins); a merged payload the vendor cannot take
    (it should not: each part passed alone) leaves them apart."""
    by_key: dict[str, list[int]] = defaultdict(list)
    for index, (_, own) in enumerate(prepared):
        by_key[own[0].key].append(index)
    result: list[list[Part] | None] = [own for _, own in prepared]
    for indexes in by_key.values():
        if len(indexes) < 2:  # a user's only record: nothing to merge it with (the usual case)
            continue
        for run in _runs_of_changes(prepared, indexes):
            group = [prepared[i] for i in run]
            for change, members in coalesce([item.record for item, _ in group]):
                if len(members) == 1:
                    continue
                items = tuple(group[m][0] for m in members)
                try:
                    merged = _parts(destination, change, items)
                except RecordRejected:
                    continue
                own = tuple(part for m in members for part in group[m][1])
                for part in merged:
                    part.unmerged = own
                result[run[members[0]]] = merged
                for m in members[1:]:
                    result[run[m]] = None
    return [parts for parts in result if parts is not None]


def _runs_of_changes(prepared: list[tuple[SourcedRecord, list[Part]]], indexes: list[int]) -> list[list[int]]:
    """The runs of two or more consecutive user changes among one key's records."""
    runs, run = [], []
    for index in indexes + [None]:
        if index is not None and isinstance(prepared[index][0].record, UserChange):
            run.append(index)
            continue
        if len(run) > 1:
            runs.append(run)
        run = []
    return runs


def generations(parts: Sequence[Part], batch_size: int, limits: Mapping[str, int] | None = None) -> list[Calls]:
    """Generation n holds every key's n-th part, chunked into calls of at most `batch_size` (or the
    limit of their kind of call), a call holding one kind. With one change per user (the usual case)
    there is one generation and ceil(N / batch_size) calls: the minimum the limit allows."""
    occurrences: dict[str, int] = defaultdict(int)
    waves: list[dict[str, list[Part]]] = []
    for part in parts:
        n = occurrences[part.key]
        occurrences[part.key] = n + 1
        if n == len(waves):
            waves.append({})
        waves[n].setdefault(part.kind, []).append(part)
    limits = limits or {}
    return [[call for kind, group in wave.items() for call in chunks(group, limits.get(kind, batch_size))]
            for wave in waves]
