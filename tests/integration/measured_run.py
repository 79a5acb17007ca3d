"""Runs functions' handlers on what waits in their queues, in a process of their own (a cold start,
as Lambda's), and reports each invocation: the messages it carried, whether the handler raised, and
how much memory it added at its peak (VmHWM, reset before each invocation through
/proc/self/clear_refs, minus the resident size before it).

    python measured_run.py < {"env": {...}, "steps": [{"function", "queue_url", "batch_size", "one_at_a_time"}],
                              "out": "result.json"}

Steps run in order, round after round, until a round finds every queue empty. `one_at_a_time`: a
step runs one invocation, then the next steps drain (a file, then that file's chunks).
"""

from __future__ import annotations

import json
import os
import re
import sys


def _status(name: str) -> int:
    with open("/proc/self/status") as status:
        return int(re.search(rf"^{name}:\s+(\d+) kB", status.read(), re.M).group(1)) * 1024


def _measured(handler, log: list[dict], function: str):
    def run(event, context):
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")  # the peak restarts from here
        before = _status("VmRSS")
        entry = {"function": function, "bodies": [r["body"][:2000] for r in event["Records"]], "raised": True}
        log.append(entry)
        try:
            response = handler(event, context)
            entry["raised"] = False
            entry["failed_items"] = len((response or {}).get("batchItemFailures", []))
            return response
        finally:
            entry["peak_added_bytes"] = _status("VmHWM") - before

    return run


def main() -> None:
    job = json.load(sys.stdin)
    os.environ.update(job["env"])
    import boto3

    from usersync_dev.local.pump import SqsEventPump, load_function

    admin = job["admin"]
    sqs = boto3.session.Session(aws_access_key_id=admin["AWS_ACCESS_KEY_ID"],
                                aws_secret_access_key=admin["AWS_SECRET_ACCESS_KEY"],
                                aws_session_token=admin.get("AWS_SESSION_TOKEN")).client("sqs")
    log: list[dict] = []
    pumps = []
    for step in job["steps"]:
        os.environ.update(step.get("credentials") or {})  # a cold start under the function's own role
        handler = _measured(load_function(step["function"]).handler, log, step["function"])
        pumps.append((SqsEventPump(sqs, step["queue_url"], handler, function_name=f"usersync-{step['function']}",
                                   batch_size=step.get("batch_size", 10), timeout_s=900), step))
    for _ in range(1000):
        did = 0
        for pump, step in pumps:
            while pump.run_once():
                did += 1
                if step.get("one_at_a_time"):
                    break
        if not did:
            break
    with open(job["out"], "w") as out:
        json.dump(log, out)


if __name__ == "__main__":
    main()
