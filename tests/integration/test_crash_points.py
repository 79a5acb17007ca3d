"""The process stopped at every step boundary of delivery, on both paths, with all three vendors:
once SQS (or the chunk queue) delivers the work again, the conservation law holds per record and
destination (tests/integration/conservation.py)."""

from __future__ import annotations

import random

import pytest

from conservation import check, workload
from usersync.delivery.checkpoints import POINTS
from usersync_dev.local.crash import crash_at
from usersync_dev.local.sandbox import LocalSandbox

pytestmark = pytest.mark.integration

SETTINGS = {"batch_size": 20, "backoff_base_s": 0.01, "backoff_max_s": 0.02}
DELIVERY_POINTS = ("before_call", "vendor_accepted", "accepted_written", "before_failed_records",
                   "before_settled_marks")


@pytest.fixture(scope="module")
def running_sandbox():
    # small chunks: a file is many chunk jobs, and the file function queues them in several batches
    with LocalSandbox(environment={"ROWS_PER_CHUNK": "15"}) as sandbox:
        yield sandbox


def configure(sandbox):
    config = sandbox.config["destinations"]
    sandbox.put_config({"destinations": {name: {**settings, **SETTINGS} for name, settings in config.items()}})
    sandbox.cold_start()


def test_every_point_is_tested():
    tested = set(DELIVERY_POINTS) | {"before_batch_response", "between_chunk_enqueues", "before_chunk_counted"}
    assert tested == set(POINTS)


@pytest.mark.parametrize("skip", [0, 1])  # the first time the point is reached, or the second
@pytest.mark.parametrize("point", DELIVERY_POINTS + ("before_batch_response",))
def test_sqs_path_stopped_at(sandbox, point, skip):
    configure(sandbox)
    work = workload(random.Random(f"{point}{skip}"), size=120)
    work.seed(sandbox)
    seeded = {token["sk"] for token in sandbox.tokens()}
    crash = crash_at(sandbox, "deliver", point, skip=skip)
    work.publish(sandbox, per_message=20)
    stats = sandbox.deliver_pump(batch_size=2).drain()  # three invocations
    assert crash.fired, f"{point} was never reached"
    assert stats.handler_errors == 1
    check(sandbox, work, seeded)


@pytest.mark.parametrize("function, point", [("deliver_chunk", p) for p in DELIVERY_POINTS + ("before_chunk_counted",)]
                         + [("ingest_file", "between_chunk_enqueues")])
def test_file_path_stopped_at(sandbox, function, point):
    configure(sandbox)
    work = workload(random.Random(point), size=200)
    work.seed(sandbox)
    seeded = {token["sk"] for token in sandbox.tokens()}
    crash = crash_at(sandbox, function, point, skip=1 if function == "deliver_chunk" else 0)
    work.upload(sandbox, "incoming/crash.jsonl")
    sandbox.files.run()
    assert crash.fired, f"{point} was never reached"
    check(sandbox, work, seeded, files=("incoming/crash.jsonl",))
