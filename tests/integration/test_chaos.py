"""Chaos: the local pipeline (SQS -> real deliver handler -> simulators, ledger and queues in moto)
on thousands of records while every vendor fails at random (429, 500, 503, dropped connections). Conservation: per destination, records delivered + records rejected = records sent there;
the vendors applied each delivered record once; no increment was applied twice.

USERSYNC_CHAOS_RECORDS sets the size (default 3,000: a few seconds here)."""

import json
import os
import random
from collections import Counter

import pytest

from usersync_dev.local.sandbox import CLEVERTAP_ACCOUNT
from usersync_dev.simulators.server import Fault

pytestmark = pytest.mark.integration

RECORDS = int(os.environ.get("USERSYNC_CHAOS_RECORDS", "3000"))
PER_MESSAGE = 50
# Hangs are tested on their own (test_delivery_faults): here a timeout long enough that a slow answer
# under this load is never taken for a lost one (a set would then be applied twice: allowed, but
# then the vendor-side count below could not tell it from a bug).
FAULTS = (Fault.status(429), Fault.status(500), Fault.status(503), Fault.drop())
# Two attempts per invocation: many messages go back to SQS, so the ledger's skips are exercised too.
SETTINGS = {"batch_size": 50, "timeout_s": 5, "max_attempts": 2, "backoff_base_s": 0.01, "backoff_max_s": 0.1,
            "rate_per_s": 100}


def test_conservation_under_random_vendor_faults(sandbox):
    names = ("batch_ios", "batch_android", "clevertap")
    sandbox.put_config({"destinations": {n: {**sandbox.config["destinations"][n], **SETTINGS} for n in names}})
    sandbox.cold_start()  # a new Lambda instance: pacing learnt by earlier tests is gone
    rng = random.Random(20261122)
    counters = [f"k{i}" for i in range(RECORDS // 20)]  # CleverTap users whose points get increments
    sandbox.publish([json.dumps([{"user_id": u, "attributes": {"points": 0}, "destinations": ["clevertap"]}
                                 for u in counters])])
    assert sandbox.deliver_pump().drain().failed_messages == 0
    seeded = {token["sk"] for token in sandbox.tokens()}

    records, expected = [], Counter()
    for i in range(RECORDS):
        roll = rng.random()
        if roll < 0.1:  # an increment, CleverTap only
            record = {"user_id": rng.choice(counters), "attributes": {"points": {"$incr": 1}}, "destinations": ["clevertap"]}
        elif roll < 0.12:  # invalid: rejected for every destination
            record = {"user_id": f"bad{i}", "attributes": {"when": {"$date": "someday"}}}
        else:
            record = {"user_id": f"u{i}", "attributes": {"n": i, "plan": rng.choice(["free", "pro"])}}
        records.append(record)
        if "when" not in record["attributes"]:
            for name in record.get("destinations", names):
                expected[name] += 1
    bodies = [json.dumps(records[i:i + PER_MESSAGE]) for i in range(0, RECORDS, PER_MESSAGE)]
    batch_calls_before, clevertap_calls_before = len(sandbox.batch.calls), len(sandbox.clevertap.calls)
    for simulator, seed in ((sandbox.batch, 1), (sandbox.clevertap, 2)):
        simulator.fail_randomly(0.25, seed=seed, kinds=FAULTS)
    sandbox.publish(bodies)

    stats = sandbox.deliver_pump().drain(max_invocations=5000)

    for simulator in (sandbox.batch, sandbox.clevertap):
        simulator.fail_randomly(0)
    assert sandbox.queue_bodies("WorkDeadLetterQueue") == [], "every message was finished"
    assert stats.failed_messages > 0, "the faults were felt, and some messages went back to SQS"
    delivered = Counter()
    for token in sandbox.tokens():
        if token["sk"] not in seeded:
            delivered[token["destination"]] += int(token["record_count"])
    failures = sandbox.failed_records()
    rejected = Counter(f["destination"] for f in failures if f["destination"])
    invalid = sum(1 for f in failures if f["destination"] is None)

    assert invalid == sum(1 for r in records if "when" in r["attributes"])
    for name in names:
        assert delivered[name] + rejected[name] == expected[name], name  # nothing lost
    for app in ("ios", "android"):  # nothing applied twice (each delivered record is its own user)
        assert sandbox.batch.users_count(app) == delivered[f"batch_{app}"]
    batch_applied = sum(c.items for c in sandbox.batch.calls[batch_calls_before:] if c.status == 200)
    assert batch_applied == delivered["batch_ios"] + delivered["batch_android"]
    # a user's increments in one invocation are coalesced into one: CleverTap applies at most as many
    assert sum(c.items for c in sandbox.clevertap.calls[clevertap_calls_before:] if c.status == 200) <= \
        delivered["clevertap"]
    # increments: applied exactly as often as they were delivered; the uncertain ones never twice
    points = sum(sandbox.clevertap.profile(CLEVERTAP_ACCOUNT, u)["points"] for u in counters)
    increments = sum(1 for r in records if "points" in r["attributes"])
    uncertain = sum(1 for f in failures if f["error"]["code"] == "DELIVERY_UNCERTAIN")
    assert {f["error"]["code"] for f in failures if f["destination"]} <= {"DELIVERY_UNCERTAIN"}
    assert points == increments - uncertain  # each delivered once; an uncertain one not resent (the faults
    # here never apply a call, so it was not applied either)
