"""Property-based: generated record sequences (one user many times, sets, tag edits, increments,
invalid values, one-line JSON arrays) x generated fault schedules (5xx, 429 with and without
Retry-After, dropped connections, responses lost after the vendor applied the call, the process
stopped at a checkpoint), through the whole local pipeline on both paths. The law of
tests/integration/conservation.py holds for every example.

CI runs a few dozen examples; `make soak` (USERSYNC_SOAK=1) runs many more."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from conservation import KINDS, check, workload_of
from usersync.delivery.checkpoints import POINTS
from usersync_dev.local.crash import crash_at
from usersync_dev.local.sandbox import LocalSandbox
from usersync_dev.simulators.server import Fault

pytestmark = pytest.mark.integration

SOAK = bool(os.environ.get("USERSYNC_SOAK"))
EXAMPLES = 400 if SOAK else 15
SETTINGS = {"batch_size": 7, "max_attempts": 3, "backoff_base_s": 0.01, "backoff_max_s": 0.02, "timeout_s": 5}
BY_TYPE = {"batch_profile": {"rate_limited_wait_s": 0.05}}  # Batch's "few seconds" after a 429, shortened

FAULTS = {
    "500": Fault.status(500), "502": Fault.status(502), "503": Fault.status(503),
    "429": Fault.status(429), "429 Retry-After": Fault.status(429, retry_after=1),
    "reset": Fault.drop(), "lost answer": Fault.apply_then_drop(),
}
VENDORS = ("batch", "batch_audience", "batch_profile", "clevertap")
SQS_POINTS = [p for p in POINTS if p not in ("between_chunk_enqueues", "before_chunk_counted")]
FILE_POINTS = [p for p in POINTS if p != "before_batch_response"]

records = st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, 5)), min_size=1, max_size=40)
faults = st.lists(st.tuples(st.sampled_from(VENDORS), st.sampled_from(sorted(FAULTS)), st.integers(1, 3)), max_size=4)


@pytest.fixture(scope="module")
def pipeline():
    with LocalSandbox(environment={"ROWS_PER_CHUNK": "1000"}) as sandbox:
        yield sandbox


def arm(sandbox, schedule) -> None:
    for vendor, fault, times in schedule:
        getattr(sandbox, vendor).inject(FAULTS[fault], times=times)


def fresh(sandbox) -> None:
    sandbox.reset()
    config = sandbox.config["destinations"]
    sandbox.put_config({"destinations": {name: {**s, **SETTINGS, **BY_TYPE.get(s["type"], {})}
                                         for name, s in config.items()}})
    sandbox.cold_start()


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=not SOAK)
@given(specs=records, schedule=faults, crash=st.none() | st.tuples(st.sampled_from(SQS_POINTS), st.integers(0, 2)))
# a set and a later increment of one user, coalesced, then a call whose answer says nothing
@example(specs=[("set", 0), ("incr", 0), ("tags", 1)], schedule=[("clevertap", "500", 1)], crash=None)
@example(specs=[("mixed", 0), ("mixed", 1), ("set", 0)], schedule=[("clevertap", "lost answer", 1)], crash=None)
@example(specs=[("set", 0), ("refused", 0), ("audience", 1)], schedule=[("batch", "503", 3)],
         crash=("vendor_accepted", 1))
def test_messages_lose_nothing_whatever_fails(pipeline, specs, schedule, crash):
    fresh(pipeline)
    work = workload_of(specs)
    work.seed(pipeline)
    seeded = {token["sk"] for token in pipeline.tokens()}
    if crash:
        crash_at(pipeline, "deliver", *crash)
    arm(pipeline, schedule)
    work.publish(pipeline, per_message=6)
    pipeline.deliver_pump(batch_size=3).drain()
    check(pipeline, work, seeded)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=not SOAK)
@given(specs=records, schedule=faults, one_line=st.booleans(),
       crash=st.none() | st.tuples(st.sampled_from(FILE_POINTS), st.integers(0, 1)))
@example(specs=[("set", i) for i in range(5)] * 3, schedule=[("batch", "lost answer", 1)], one_line=True, crash=None)
@example(specs=[("incr", 0), ("set", 0), ("incr", 1)], schedule=[("clevertap", "reset", 1)], one_line=False,
         crash=("accepted_written", 0))
def test_files_lose_nothing_whatever_fails(pipeline, specs, schedule, one_line, crash):
    fresh(pipeline)
    work = workload_of(specs)
    work.seed(pipeline)
    seeded = {token["sk"] for token in pipeline.tokens()}
    if crash:
        point, skip = crash
        crash_at(pipeline, "ingest_file" if point == "between_chunk_enqueues" else "deliver_chunk", point, skip)
    arm(pipeline, schedule)
    key = "incoming/generated.json" if one_line else "incoming/generated.jsonl"
    work.upload(pipeline, key)
    pipeline.files.run()
    check(pipeline, work, seeded, files=(key,))
