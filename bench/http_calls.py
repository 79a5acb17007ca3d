"""HTTP calls made against the minimum the vendors' limits allow.

The real deliver handler, fed by the local SQS pump (as Lambda's poller), against the strict vendor
simulators, which count every call. Two minimums, per destination:
- for the records: ceil(distinct users / per-call limit): fewer calls cannot carry them;
- for the invocations: the same, summed over the Lambda invocations that carried them (a call
  cannot hold records of two invocations). Their gap is the cost of small Lambda batches
  (DeliverBatchSize); calls made / the second minimum is usersync's own efficiency (1.0 is optimal).
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

from common import QUICK, write_results

USERS = 5_000 if QUICK else 25_000
PER_MESSAGE = 1_000  # records per SQS message (~100 KB)


def users(count: int, prefix: str = "u", **attributes: Any) -> list[dict[str, Any]]:
    return [{"user_id": f"{prefix}-{i}", "attributes": {"level": i % 100, **attributes}} for i in range(count)]


def with_refusals(count: int) -> list[dict[str, Any]]:
    """Every user changed twice; 15 % of the changes break a rule CleverTap documents (checked before
    sending: Phone), and 15 % of the users have a change CleverTap itself refuses in its 200 answer (Gender)."""
    records = []
    for u in range(count):
        first = {"user_id": f"r-{u}", "attributes": {"plan": "pro", "seen": {"$add": [f"a{u}"]}}}
        second = {"user_id": f"r-{u}", "attributes": {"seen": {"$add": [f"b{u}"]}}}
        if u % 20 < 3:
            second["attributes"]["Gender"] = "X"
        if 3 <= u % 20 < 9:
            first["attributes"]["Phone"] = "0612"
        records += [first, second]
    return records


def sent_records(event: dict[str, Any]) -> int:
    """Records of an invocation that pass the checks made before sending (the refusal scenario's)."""
    return sum(1 for message in event["Records"] for record in json.loads(message["body"])
               if "Phone" not in record.get("attributes", {}))


def messages(records: list[dict[str, Any]]) -> list[str]:
    return [json.dumps(records[i:i + PER_MESSAGE]) for i in range(0, len(records), PER_MESSAGE)]


def scenarios(sandbox) -> list[dict[str, Any]]:
    """(name, destinations, message bodies, Lambda batch size, fault) with the expected minimum."""
    config = sandbox.config["destinations"]
    batch = {name: d for name, d in config.items() if d["type"] == "batch"}
    clevertap = {name: d for name, d in config.items() if d["type"] == "clevertap"}
    audiences = {name: d for name, d in config.items() if d["type"] == "batch_audience"}
    # One instance given nearly all of Batch's rate (the defaults give it a fifth), so the bench waits little
    # longer than Batch makes it; the simulator meters as Batch does, on arrival: a little under the
    # rate, so that a call's transit does not cost a 429.
    profiles = {name: {**d, "profiles_per_s": 290, "profiles_burst": 950}
                for name, d in config.items() if d["type"] == "batch_profile"}
    mass = {name: {**d, "endpoint": "mass_update", "profiles_per_s": 9_500, "profiles_burst": 9_500}
            for name, d in profiles.items()}
    profile_users = USERS // 5  # at 300 profiles a second
    # both changes of a user in the same message, so in the same invocation: usersync merges them
    interleaved = [change for pair in zip(users(USERS), users(USERS, plan="pro")) for change in pair]
    members = [{"audience": "vip_users", "install_id": f"install-{i}", "action": "add"} for i in range(USERS)]
    return [
        {"name": "Batch, 2 apps, 10 messages per invocation", "destinations": batch, "bodies": messages(users(USERS)),
         "lambda_batch": 10, "minimum": len(batch) * math.ceil(USERS / 10_000)},
        {"name": "Batch, 2 apps, 1 message per invocation", "destinations": batch, "bodies": messages(users(USERS)),
         "lambda_batch": 1, "minimum": len(batch) * math.ceil(USERS / 10_000)},
        {"name": "Batch, every user changed twice", "destinations": batch, "bodies": messages(interleaved),
         "lambda_batch": 10, "minimum": len(batch) * math.ceil(USERS / 10_000)},
        {"name": "Batch, one 503 on the way", "destinations": batch, "bodies": messages(users(USERS)),
         "lambda_batch": 10, "minimum": len(batch) * math.ceil(USERS / 10_000), "fault_503": True},
        {"name": "CleverTap (100 per call)", "destinations": clevertap, "bodies": messages(users(USERS)),
         "lambda_batch": 10, "minimum": len(clevertap) * math.ceil(USERS / 100)},
        # issue F.5's floor: ceil(records sent / batch size) per destination per invocation
        {"name": "CleverTap, 15 % refused before sending, 15 % by CleverTap", "destinations": clevertap,
         "bodies": messages(with_refusals(USERS // 5)), "lambda_batch": 10, "floor_of_sent_records": True,
         "minimum": len(clevertap) * math.ceil(sum(1 for r in with_refusals(USERS // 5)
                                                    if "Phone" not in r["attributes"]) / 100)},
        {"name": "Batch Custom Audience", "destinations": audiences, "bodies": messages(members),
         "lambda_batch": 10, "minimum": len(audiences) * math.ceil(USERS / 10_000)},
        {"name": "Batch Profile API, update (200 per call)", "destinations": profiles,
         "bodies": messages(users(profile_users)), "lambda_batch": 10,
         "minimum": len(profiles) * math.ceil(profile_users / 200)},
        {"name": "Batch Profile API, mass-update named", "destinations": mass, "bodies": messages(users(USERS)),
         "lambda_batch": 10, "minimum": len(mass) * math.ceil(USERS / 10_000)},
    ]


VENDOR_ROUTES = {"batch": ("data.bulk", "data.single"), "clevertap": ("upload",),
                 "batch_audience": ("audience.update", "audience.replace"),
                 "batch_profile": ("profiles.update", "profiles.mass_update")}


def record_keys(event: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, key) of every record an invocation carries: a user id, or an audience's install id."""
    keys = []
    for message in event["Records"]:
        for record in json.loads(message["body"]):
            if "install_id" in record:
                keys.append(("audience:" + record["audience"], record["install_id"]))
            else:
                keys.append(("user", record["user_id"]))
    return keys


def minimum_calls(invocations: list[list[tuple[str, str]]], limits: dict[str, tuple[str, int]]) -> int:
    """Calls needed to carry these invocations' records to these destinations (name -> (type, limit))."""
    calls = 0
    for keys in invocations:
        for kind, limit in limits.values():
            groups: dict[str, set[str]] = {}
            for group, key in keys:
                if (group == "user") == (kind != "batch_audience"):
                    groups.setdefault(group, set()).add(key)
            calls += sum(math.ceil(len(members) / limit) for members in groups.values())
    return calls


def main() -> None:
    from usersync.config import parse_config
    from usersync.vendors.base import MESSAGES, VendorContext
    from usersync_dev.local.pump import SqsEventPump
    from usersync_dev.local.sandbox import LocalSandbox
    from usersync.observability import logger
    from usersync_dev.simulators.server import Fault

    logger.setLevel("ERROR")
    quiet = {"POWERTOOLS_LOG_LEVEL": "ERROR", "POWERTOOLS_METRICS_DISABLED": "true"}
    results = []
    with LocalSandbox(environment=quiet) as sandbox:
        for scenario in scenarios(sandbox):
            sandbox.reset()
            sandbox.put_config({"destinations": scenario["destinations"]})
            simulators = {"batch": sandbox.batch, "clevertap": sandbox.clevertap, "batch_audience": sandbox.batch_audience,
                          "batch_profile": sandbox.batch_profile}
            if scenario.get("fault_503"):
                sandbox.batch.inject(Fault.status(503), times=1, route="data.bulk")
            sandbox.publish(scenario["bodies"])
            handler, carried = sandbox.handler("deliver"), []

            sent: list[int] = []

            def observed(event, context, handler=handler, carried=carried, sent=sent):
                carried.append(record_keys(event))
                sent.append(sent_records(event))
                return handler(event, context)

            stats = SqsEventPump(sandbox.stack.client("sqs"), sandbox.queue_url("WorkQueue"), observed,
                                 function_name="usersync-deliver", batch_size=scenario["lambda_batch"]).drain()
            # each destination's per-call limit as the deliver function builds it (messages)
            built = parse_config(json.dumps({"destinations": scenario["destinations"]}), origin="bench").build(
                VendorContext(traffic=MESSAGES))
            limits = {name: (d.vendor, d.batch_size) for name, d in built.items()}
            per_invocation = minimum_calls(carried, limits)
            if scenario.get("floor_of_sent_records"):  # records, not users: each change counts
                per_invocation = sum(math.ceil(count / limit) for count in sent for _, limit in limits.values())
            types = {d["type"] for d in scenario["destinations"].values()}
            calls = [c for t in types for c in simulators[t].calls if c.route in VENDOR_ROUTES[t]]
            accepted = sum(1 for c in calls if c.status is not None and c.status < 300)
            failed = len(sandbox.failed_records())
            made = len(calls)
            results.append({
                "scenario": scenario["name"], "records": sum(len(json.loads(b)) for b in scenario["bodies"]),
                "users": USERS, "lambda_batch": scenario["lambda_batch"], "invocations": stats.invocations,
                "calls": made, "accepted_calls": accepted, "minimum": scenario["minimum"],
                "minimum_for_invocations": per_invocation, "vs_minimum": round(made / scenario["minimum"], 2),
                "vs_minimum_for_invocations": round(made / per_invocation, 2), "failed_records": failed,
            })
            print(f"{scenario['name']:<44} {made:>4} calls: minimum {scenario['minimum']:>4} for the records "
                  f"({made / scenario['minimum']:.2f}×), {per_invocation:>4} for the {stats.invocations} invocations "
                  f"({made / per_invocation:.2f}×)" + (f", {failed} failed records" if failed else ""))
    write_results("http_calls", {
        "what": "vendor calls made vs the minimum ceil(users / per-call limit), through the deliver handler",
        "users": USERS, "records_per_message": PER_MESSAGE, "results": results,
    })


if __name__ == "__main__":
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    main()
