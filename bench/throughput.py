"""End-to-end throughput of the deliver function against the vendor ceiling.

A vendor that answers in `latency` lets one destination deliver at most
    ceiling = concurrency × batch_size / latency   records per second
(calls in flight × records per call, one round trip each). This runs the real deliver handler on
the SQS events Lambda delivers, against the simulators (another process) with 50 ms added to every
answer, tokens and failed records going to a local AWS stack (another process), and reports the
records per second it reached against that ceiling. Baseline in the same run: the same handler with
0 ms latency, which shows what this machine's CPU allows whatever the vendor.

Each invocation carries `waves` full rounds of calls (records = waves × concurrency × batch_size):
an invocation that ends in a half-empty round cannot reach the ceiling, whatever the code.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from typing import Any

from common import QUICK, WORK, write_results
from harness import EchoVendor, ExternalLocalStack, set_environment, sqs_messages

LATENCY_MS = 50
MAX_RECORDS_PER_MESSAGE = 1_000  # ~150 KB of these records: under WorkQueue's 256 KiB
TARGET_SECONDS = 1.0 if QUICK else 2.5  # measured time per scenario, at the ceiling

# (vendor type, batch size, concurrency, rounds of calls per invocation)
SCENARIOS = [
    ("batch", 100, 1, 4),
    ("batch", 100, 4, 4),
    ("batch", 1000, 1, 4),
    ("batch", 1000, 4, 2),
    ("batch", 10000, 2, 1),
    ("clevertap", 100, 3, 4),
    ("clevertap", 100, 15, 2),
]
CONFIG_PATH = WORK / "throughput-destinations.json"
CPU_BASELINE = ("batch", 1000, 4, 2)  # the same handler at 0 ms: what the CPU allows


def record(prefix: str, i: int) -> dict[str, Any]:
    return {"user_id": f"{prefix}-{i}", "attributes": {
        "nickname": f"user {i}", "age": 20 + i % 60, "level_progress": round(i % 1000 / 10, 1),
        "is_subscribed": i % 2 == 0, "signup": {"$date": 1_600_000_000 + i}, "hobbies": ["chess", "cooking"],
    }}


def event_for(records: list[dict[str, Any]]) -> dict[str, Any]:
    from usersync_dev.local.pump import sqs_event

    per_message = min(MAX_RECORDS_PER_MESSAGE, len(records))
    bodies = [json.dumps(records[i:i + per_message]) for i in range(0, len(records), per_message)]
    return sqs_event(sqs_messages(bodies), "arn:aws:sqs:us-east-1:123456789012:usersync-work-queue", "us-east-1")


def run_scenario(handler, between, vendor: str, batch_size: int, concurrency: int, rounds: int,
                 latency_ms: float) -> dict[str, Any]:
    """`between()` runs before each timed invocation, untimed (it empties StateTable)."""
    from usersync_dev.local.pump import LocalLambdaContext

    config = {"destinations": {vendor: {**EchoVendor.DESTINATIONS[vendor], "batch_size": batch_size,
                                        "concurrency": concurrency}}}
    CONFIG_PATH.write_text(json.dumps(config))  # the handler reads it at each invocation

    per_invocation = rounds * concurrency * batch_size
    ceiling = concurrency * batch_size / (latency_ms / 1000) if latency_ms else None
    prefix = uuid.uuid4().hex[:6]

    def invocation(n: int) -> dict[str, Any]:
        return event_for([record(f"{prefix}-{n}", i) for i in range(per_invocation)])

    handler(invocation(0), LocalLambdaContext("usersync-deliver", timeout_s=900))  # warm: clients, pools
    failed, elapsed, cpu, invocations = 0, 0.0, 0.0, 0
    while invocations < 2 or elapsed < TARGET_SECONDS:
        event = invocation(invocations + 1)  # built outside the timed part: SQS does this work
        between()
        started, cpu_started = time.perf_counter(), time.process_time()
        answer = handler(event, LocalLambdaContext("usersync-deliver", timeout_s=900))
        elapsed += time.perf_counter() - started
        cpu += time.process_time() - cpu_started  # this process's, every thread: the vendor and AWS are others
        failed += len(answer.get("batchItemFailures", []))
        invocations += 1
    records = per_invocation * invocations
    achieved = records / elapsed
    result = {
        "vendor": vendor, "batch_size": batch_size, "concurrency": concurrency, "latency_ms": latency_ms,
        "records_per_invocation": per_invocation, "invocations": invocations, "records": records,
        "seconds": round(elapsed, 3), "records_per_s": round(achieved), "messages_handed_back": failed,
        "cpu_us_per_record": round(cpu / records * 1e6, 1),
    }
    if ceiling:
        result.update(ceiling_per_s=round(ceiling), of_ceiling=round(achieved / ceiling, 3))
    label = f"{vendor:<9} batch {batch_size:>5} × {concurrency:>2} @ {latency_ms:>2} ms"
    print(f"{label}: {achieved:9,.0f} records/s" + (f" = {achieved / ceiling:.2f} × ceiling {ceiling:,.0f}"
                                                    if ceiling else " (CPU bound)")
          + f", {result['cpu_us_per_record']:.0f} µs CPU a record" + (f"  [{failed} handed back]" if failed else ""))
    return result


BREAKDOWN = [("batch", 100, 4, 4), ("batch", 1000, 4, 2)]
# Where an invocation's time goes: (label, module, class, methods). Wrapped only where they exist.
PROBES = [
    ("vendor calls", "usersync.vendors.batch.client", "BatchCustomDataClient", ("bulk_update",)),
    ("ledger and tokens (DynamoDB)", "usersync.stores.ledger", "DynamoDBLedger",
     ("read", "claim", "release", "update", "accept")),
]


def breakdown(handler, between, vendor: str, batch_size: int, concurrency: int, rounds: int) -> dict[str, Any]:
    """One scenario again, with the time spent in vendor calls, ledger and token writes summed
    (over threads: calls overlap, so their sum exceeds the wall time)."""
    import functools
    import importlib
    import threading

    from usersync_dev.local.pump import LocalLambdaContext

    totals: dict[str, list[float]] = {}
    lock = threading.Lock()
    originals = []
    for label, module_name, class_name, methods in PROBES:
        cls = getattr(importlib.import_module(module_name), class_name, None)
        for method in methods:
            original = getattr(cls, method, None)
            if original is None:
                continue

            @functools.wraps(original)
            def timed(*args, __original=original, __label=label, **kwargs):
                started = time.perf_counter()
                try:
                    return __original(*args, **kwargs)
                finally:
                    with lock:
                        totals.setdefault(__label, []).append(time.perf_counter() - started)

            originals.append((cls, method, original))
            setattr(cls, method, timed)
    try:
        config = {"destinations": {vendor: {**EchoVendor.DESTINATIONS[vendor], "batch_size": batch_size,
                                            "concurrency": concurrency}}}
        CONFIG_PATH.write_text(json.dumps(config))
        per_invocation = rounds * concurrency * batch_size
        prefix = uuid.uuid4().hex[:6]
        events = [event_for([record(f"{prefix}-{n}", i) for i in range(per_invocation)]) for n in range(4)]
        handler(events[0], LocalLambdaContext("usersync-deliver", timeout_s=900))
        totals.clear()
        wall = 0.0
        for event in events[1:]:
            between()
            started = time.perf_counter()
            handler(event, LocalLambdaContext("usersync-deliver", timeout_s=900))
            wall += time.perf_counter() - started
    finally:
        for cls, method, original in originals:
            setattr(cls, method, original)
    invocations = len(events) - 1
    ideal = rounds * LATENCY_MS / 1000
    row = {"vendor": vendor, "batch_size": batch_size, "concurrency": concurrency,
           "records_per_invocation": per_invocation, "invocation_ms": round(wall / invocations * 1000, 1),
           "ideal_ms": round(ideal * 1000, 1)}
    for label, durations in totals.items():
        row[label] = {"count_per_invocation": round(len(durations) / invocations, 1),
                      "mean_ms": round(sum(durations) / len(durations) * 1000, 2),
                      "sum_ms_per_invocation": round(sum(durations) / invocations * 1000, 1)}
    print(f"  breakdown {vendor} {batch_size} × {concurrency}: {row['invocation_ms']:.0f} ms per invocation "
          f"(ideal {row['ideal_ms']:.0f}); " + "; ".join(
              f"{label} {v['count_per_invocation']:g} × {v['mean_ms']:.1f} ms" for label, v in totals.items()
              for v in [row[label]]))
    return row


def main() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    with ExternalLocalStack() as stack, EchoVendor(LATENCY_MS) as slow, EchoVendor(0) as fast:
        set_environment({**stack.environment(), **slow.environment, "POWERTOOLS_TRACE_DISABLED": "true",
                         "POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "WARNING",
                         "DESTINATIONS_CONFIG": f"file:{CONFIG_PATH}"})  # read once, at cold start
        CONFIG_PATH.write_text(json.dumps({"destinations": {"batch": EchoVendor.DESTINATIONS["batch"]}}))
        from usersync_dev.local.pump import load_handler

        handler = load_handler("deliver")
        between = stack.empty_state_table
        results = [run_scenario(handler, between, *scenario, LATENCY_MS) for scenario in SCENARIOS]
        where = [breakdown(handler, between, *scenario) for scenario in BREAKDOWN]
        set_environment(fast.environment)
        baseline = run_scenario(handler, between, *CPU_BASELINE, 0)
    write_results("throughput", {
        "what": "records/s through the deliver handler (SQS events -> vendors -> tokens) vs "
                "ceiling = concurrency × batch_size / latency",
        "latency_ms": LATENCY_MS, "goal": 0.9, "scenarios": results, "cpu_bound_baseline": baseline,
        "breakdown": where,
    })


if __name__ == "__main__":
    main()
