"""The delivery promise as one law, checked per record and destination against the simulators'
final state (the crash, property and chaos tests share it):

- every input record is delivered to each destination it targets, or is in the failed-records queue
  for it with a reason (invalid records: for every destination);
- sets, tags and audience changes: at least once (a delivered one is in the vendor's state);
- increments: at most once, and reported (DELIVERY_UNCERTAIN) whenever not known applied: per user,
  sent - reported <= applied <= sent - reported-as-definitely-failed;
- every delivered record was carried by a call whose token is saved;
- no message is parked in a dead-letter queue, every file's job is DONE and its report counts
  equal the truth.

A workload gives each record a unique tag (its "seen" value, or its install id) so its delivery
can be read off the vendors, and knows where each record sits (message and index, or file line)
so the failed-records queue can be matched to it.
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from usersync.stores.erasures import ErasureReceipts
from usersync_dev.local.sandbox import AUDIENCE_APP, CLEVERTAP_ACCOUNT, PROFILE_PROJECT

USER_DESTINATIONS = ("batch_ios", "batch_android", "batch_profile", "clevertap")
AUDIENCE_DESTINATION = "batch_ios_audiences"
AUDIENCE = "vip_users"
DEAD_LETTER_QUEUES = ("WorkDeadLetterQueue", "ChunkDeadLetterQueue", "FileEventsDeadLetterQueue")
KINDS = ("set", "tags", "incr", "mixed", "invalid", "vendor_rule", "refused", "audience", "erase")


@dataclass
class Workload:
    records: list[dict[str, Any]] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    counters: set[str] = field(default_factory=set)  # users whose CleverTap "points" get increments
    erased: set[str] = field(default_factory=set)    # users erased: profiled everywhere before, by the seed
    where: list[tuple] = field(default_factory=list)  # per record: ("sqs", message id, index) or ("s3", key, line)

    def add(self, kind: str, record: dict[str, Any]) -> None:
        self.records.append(record)
        self.kinds.append(kind)

    # --- sending it ------------------------------------------------------------------------------

    def seed(self, sandbox) -> None:
        """Before any fault is armed: CleverTap increments need a value to start from, and the people
        to erase a profile at every vendor and their install id in an audience."""
        seeds = [{"user_id": u, "attributes": {"points": 0}, "destinations": ["clevertap"]}
                 for u in sorted(self.counters)]
        seeds += [{"user_id": u, "attributes": {"plan": "gone"}} for u in sorted(self.erased)]
        seeds += [{"audience": AUDIENCE, "install_id": f"i-{u}", "action": "add"} for u in sorted(self.erased)]
        if seeds:
            sandbox.publish([json.dumps(seeds)])
            assert sandbox.deliver_pump().drain().failed_messages == 0

    def publish(self, sandbox, per_message: int = 25) -> None:
        for start in range(0, len(self.records), per_message):
            chunk = self.records[start:start + per_message]
            [message_id] = sandbox.publish([json.dumps(chunk)])
            self.where += [("sqs", message_id, index) for index in range(len(chunk))]

    def upload(self, sandbox, key: str) -> None:
        """JSON Lines, or for a .json key a JSON array on one line (every record on line 1)."""
        if key.endswith(".json"):
            sandbox.files.upload(key, json.dumps(self.records))
            self.where += [("s3", key, 1, ordinal) for ordinal in range(len(self.records))]
            return
        sandbox.files.upload(key, "".join(json.dumps(r) + "\n" for r in self.records))
        self.where += [("s3", key, line) for line in range(1, len(self.records) + 1)]

    def targets(self, index: int) -> tuple[str, ...]:
        record = self.records[index]
        if "audience" in record:
            return (AUDIENCE_DESTINATION,)
        if record.get("delete"):
            return USER_DESTINATIONS + (AUDIENCE_DESTINATION,)
        return tuple(record.get("destinations") or USER_DESTINATIONS)


def workload(rng: random.Random, size: int, users: int = 12, kinds: tuple[str, ...] = KINDS) -> Workload:
    """`size` records over `users` users (each user several times), of the kinds asked for."""
    return workload_of([(rng.choice(kinds), rng.randrange(users)) for _ in range(size)])


def workload_of(specs: list[tuple[str, int]]) -> Workload:
    """One record per (kind, user number), in order."""
    work = Workload()
    for i, (kind, number) in enumerate(specs):
        user, tag = f"u{number}", f"r{i}"
        if kind == "set":
            work.add(kind, {"user_id": user, "attributes": {"plan": ["free", "pro"][i % 2], "seen": {"$add": [tag]}}})
        elif kind == "tags":
            work.add(kind, {"user_id": user, "attributes": {"seen": {"$add": [tag]}, "last": tag}})
        elif kind == "incr":
            work.counters.add(user)
            work.add(kind, {"user_id": user, "attributes": {"points": {"$incr": 1}}, "destinations": ["clevertap"]})
        elif kind == "mixed":  # a set and an increment in one record
            work.counters.add(user)
            work.add(kind, {"user_id": user, "attributes": {"points": {"$incr": 1}, "seen": {"$add": [tag]}},
                            "destinations": ["clevertap"]})
        elif kind == "invalid":
            work.add(kind, {"user_id": user, "attributes": {"when": {"$date": "someday"}, "seen": {"$add": [tag]}}})
        elif kind == "vendor_rule":  # Batch (both APIs) refuses the name before sending; CleverTap takes it
            work.add(kind, {"user_id": user, "attributes": {"Plan Name": "x", "seen": {"$add": [tag]}}})
        elif kind == "refused":  # CleverTap refuses it in its 200 answer; Batch before sending (Gender)
            work.add(kind, {"user_id": user, "attributes": {"Gender": "X", "seen": {"$add": [tag]}}})
        elif kind == "erase":  # a person of their own (x<i>), profiled by the seed, erased everywhere
            work.erased.add(f"x{i}")
            work.add(kind, {"user_id": f"x{i}", "delete": True, "install_ids": [f"i-x{i}"]})
        else:
            work.add(kind, {"audience": AUDIENCE, "install_id": f"i-{tag}", "action": "add"})
    return work


# --- the law ---------------------------------------------------------------------------------------

def _failures_by_record(sandbox, work: Workload) -> dict[int, dict[str | None, list[dict]]]:
    index_of = {where: i for i, where in enumerate(work.where)}
    found: dict[int, dict[str | None, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for envelope in sandbox.failed_records():
        source = envelope["source"]
        if source["kind"] == "sqs":
            where = ("sqs", source.get("message_id"), source.get("index"))
        elif ("s3", source.get("key"), source.get("line")) in index_of:
            where = ("s3", source.get("key"), source.get("line"))
        else:  # records sharing a line: their ordinal in the chunk (one chunk per test file here)
            where = ("s3", source.get("key"), source.get("line"), source.get("ordinal"))
        assert where in index_of, f"a failed record that is not in the input: {envelope}"
        assert envelope["error"]["code"] and envelope["error"]["message"], envelope
        found[index_of[where]][envelope["destination"]].append(envelope)
    return found


def _delivered(sandbox, work: Workload, index: int, destination: str) -> bool:
    record = work.records[index]
    if record.get("delete"):  # erased: gone from the vendor
        if destination == AUDIENCE_DESTINATION:
            return record["install_ids"][0] not in (sandbox.batch_audience.members(AUDIENCE_APP, AUDIENCE) or {})
        if destination == "clevertap":
            return sandbox.clevertap.profile(CLEVERTAP_ACCOUNT, record["user_id"]) is None
        if destination == "batch_profile":
            return sandbox.batch_profile.profile(PROFILE_PROJECT, record["user_id"]) is None
        return sandbox.batch.profile(destination.removeprefix("batch_"), record["user_id"]) is None
    if destination == AUDIENCE_DESTINATION:
        return record["install_id"] in (sandbox.batch_audience.members(AUDIENCE_APP, AUDIENCE) or {})
    tag = (record["attributes"].get("seen") or {}).get("$add", [None])[0]
    if destination == "clevertap":
        profile = sandbox.clevertap.profile(CLEVERTAP_ACCOUNT, record["user_id"]) or {}
        return tag in profile.get("seen", [])
    if destination == "batch_profile":  # reading applies the mass-updates Batch has accepted
        profile = sandbox.batch_profile.profile(PROFILE_PROJECT, record["user_id"]) or {"attributes": {}}
        return tag in profile["attributes"].get("seen", [])
    profile = sandbox.batch.profile(destination.removeprefix("batch_"), record["user_id"]) or {"tags": {}}
    return tag in profile["tags"].get("seen", [])


def check(sandbox, work: Workload, seeded_tokens: set[str] = frozenset(), files: tuple[str, ...] = ()) -> None:
    failures = _failures_by_record(sandbox, work)
    delivered: Counter[str] = Counter()
    for index, kind in enumerate(work.kinds):
        mine = failures.get(index, {})
        if kind == "invalid":
            assert mine.get(None), f"record {index} ({kind}) is invalid and not in the failed-records queue"
            continue
        for destination in work.targets(index):
            if mine.get(destination):
                continue
            if kind == "incr":  # read off the counter below
                delivered[destination] += 1
                continue
            assert _delivered(sandbox, work, index, destination), \
                f"record {index} ({kind}) neither delivered to {destination} nor in the failed-records queue"
            delivered[destination] += 1

    increments: dict[str, list[int]] = defaultdict(list)
    for i, record in enumerate(work.records):
        if work.kinds[i] in ("incr", "mixed"):
            increments[record["user_id"]].append(i)
    for user, sent in increments.items():  # increments: at most once, reported whenever not known applied
        reported = [failures.get(i, {}).get("clevertap", []) for i in sent]
        uncertain = sum(1 for r in reported if r and all(f["error"]["code"] == "DELIVERY_UNCERTAIN" for f in r))
        failed = sum(1 for r in reported if r)
        applied = sandbox.clevertap.profile(CLEVERTAP_ACCOUNT, user)["points"]
        assert len(sent) - failed <= applied <= len(sent) - (failed - uncertain), (user, applied, len(sent), failed)

    receipts = ErasureReceipts(sandbox.resources["StateTable"]["name"], sandbox.stack.client("dynamodb"))
    for index, kind in enumerate(work.kinds):  # every erasure has its receipt, per destination
        if kind != "erase":
            continue
        found = {r["destination"]: r["state"] for r in receipts.of(work.records[index]["user_id"])}
        for destination in work.targets(index):
            state = "FAILED" if failures.get(index, {}).get(destination) else "CONFIRMED"
            assert found.get(destination) == state, (index, destination, found)

    for queue in DEAD_LETTER_QUEUES:
        assert sandbox.queue_bodies(queue) == [], f"messages parked in {queue}"

    carried: Counter[str] = Counter()
    for token in sandbox.tokens():
        if token["sk"] not in seeded_tokens:
            carried[token["destination"]] += int(token["record_count"])
    for destination, count in delivered.items():
        assert carried[destination] >= count, (destination, carried[destination], count)

    for key in files:
        report = sandbox.files.report(key)
        assert report and report["state"] == "DONE", (key, report and report.get("state"))
        rows = [i for i, where in enumerate(work.where) if where[1] == key]
        assert report["records"]["read"] == report["records"]["in_file"] == len(rows)
        invalid = sum(1 for i in rows if work.kinds[i] == "invalid")
        assert report["records"]["rejected"] == invalid
        for destination, counts in report["destinations"].items():
            due = [i for i in rows if work.kinds[i] != "invalid" and destination in work.targets(i)]
            refused = sum(1 for i in due if failures.get(i, {}).get(destination))
            assert (counts["delivered"], counts["rejected"]) == (len(due) - refused, refused), destination
