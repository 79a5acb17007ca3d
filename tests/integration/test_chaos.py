"""Chaos: thousands of records through the local pipeline (real handlers, ledger and queues in moto,
the strict simulators over HTTP) while every vendor fails at random — 429, 500, 503, dropped
connections, and answers lost after the vendor applied the call — on the SQS path and the file
path. The conservation law of tests/integration/conservation.py holds per record and destination.

USERSYNC_CHAOS_RECORDS sets the size (default 2,000 a path)."""

import os
import random

import pytest

from conservation import check, workload
from usersync_dev.local.sandbox import LocalSandbox
from usersync_dev.simulators.server import Fault

pytestmark = pytest.mark.integration

RECORDS = int(os.environ.get("USERSYNC_CHAOS_RECORDS", "2000"))
# Mostly good records, as a real feed: sets and tags, some increments, a few the vendors refuse.
KINDS = ("set",) * 4 + ("tags",) * 2 + ("incr", "mixed", "audience", "invalid", "vendor_rule", "refused")
FAULTS = (Fault.status(429), Fault.status(500), Fault.status(503), Fault.drop(), Fault.apply_then_drop())
# Two attempts per invocation: many messages and chunks go back to SQS, so the ledger's skips are exercised.
SETTINGS = {"batch_size": 50, "timeout_s": 5, "max_attempts": 2, "backoff_base_s": 0.01, "backoff_max_s": 0.1,
            "rate_per_s": 100}
# Batch profiles: "a few seconds" after a 429 shortened; one instance with nearly all of Batch's rate
BY_TYPE = {"batch_profile": {"rate_limited_wait_s": 0.05, "profiles_per_s": 290, "profiles_burst": 950}}


@pytest.fixture(scope="module")
def running_sandbox():
    with LocalSandbox(environment={"ROWS_PER_CHUNK": "500"}) as sandbox:
        yield sandbox


def chaos(sandbox, rate: float) -> None:
    for seed, simulator in enumerate((sandbox.batch, sandbox.batch_audience, sandbox.clevertap, sandbox.batch_profile)):
        simulator.fail_randomly(rate, seed=seed, kinds=FAULTS)


def configure(sandbox, **settings):
    config = sandbox.config["destinations"]
    sandbox.put_config({"destinations": {name: {**s, **SETTINGS, **BY_TYPE.get(s["type"], {}), **settings}
                                         for name, s in config.items()}})
    sandbox.cold_start()


def test_messages_under_random_vendor_faults(sandbox):
    configure(sandbox)
    work = workload(random.Random(20261122), RECORDS, users=RECORDS // 4, kinds=KINDS)
    work.seed(sandbox)
    seeded = {token["sk"] for token in sandbox.tokens()}
    chaos(sandbox, 0.25)
    work.publish(sandbox, per_message=50)
    sandbox.deliver_pump().drain(max_invocations=5000)
    chaos(sandbox, 0)
    failed_calls = [c for s in (sandbox.batch, sandbox.clevertap, sandbox.batch_profile) for c in s.calls
                    if c.status not in (200, 202)]
    assert len(failed_calls) > 10, "the faults were felt"
    check(sandbox, work, seeded)


def test_a_file_under_random_vendor_faults(sandbox):
    configure(sandbox, max_attempts=1)  # every failed call sends its chunk back to SQS
    work = workload(random.Random(20261202), RECORDS, users=RECORDS // 4, kinds=KINDS)
    work.seed(sandbox)
    seeded = {token["sk"] for token in sandbox.tokens()}
    chaos(sandbox, 0.25)
    work.upload(sandbox, "incoming/chaos.jsonl")
    stats = sandbox.files.run()
    chaos(sandbox, 0)
    assert stats.chunk_retries > 0, "the faults were felt: some chunks went back to SQS"
    check(sandbox, work, seeded, files=("incoming/chaos.jsonl",))
