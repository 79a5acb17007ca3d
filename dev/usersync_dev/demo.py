"""`make demo`: the real handlers on the real event shapes, against moto server and the
vendor simulators on 127.0.0.1, then a summary of what happened to every record."""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter

from rich.console import Console
from rich.table import Table

from usersync.stores.erasures import ErasureReceipts
from usersync_dev.cli.erasure import receipt_table
from usersync_dev.local.files import demo_files
from usersync_dev.local.sandbox import (
    AUDIENCE_APP, AUDIENCES, CLEVERTAP_ACCOUNT, PROFILE_PROJECT, LocalSandbox, example_messages,
)
from usersync_dev.simulators.server import Fault

console = Console(width=max(140, shutil.get_terminal_size((140, 40)).columns))


def main() -> None:
    # The tables below summarise what the handlers log; `LOG_LEVEL=INFO make demo` shows the logs too.
    quiet = {"POWERTOOLS_LOG_LEVEL": os.environ.get("LOG_LEVEL", "ERROR"), "POWERTOOLS_METRICS_DISABLED": "true"}
    with LocalSandbox(environment=quiet) as sandbox:
        console.print(f"[bold]usersync demo[/] — AWS emulated by moto at {sandbox.stack.endpoint_url}; simulators: "
                      f"Batch Custom Data {sandbox.batch.url}, Batch Custom Audience {sandbox.batch_audience.url}, "
                      f"Batch Profile API {sandbox.batch_profile.url}, CleverTap {sandbox.clevertap.url}")
        messages = example_messages()
        sandbox.publish([body for _, body in messages])
        console.print(f"Published {len(messages)} sample messages from examples/messages/ to the work queue.")

        # One simulated outage: the call is retried in the invocation, with backoff.
        sandbox.batch.inject(Fault.status(503), times=1)
        stats = sandbox.deliver_pump(batch_size=3).drain()
        console.print(f"Deliver function: {stats.invocations} invocations, {stats.messages} messages received, "
                      f"{stats.failed_messages} handed back to SQS for retry (a simulated Batch 503 was retried "
                      "in the invocation).")
        runs = follow_indexing(sandbox)
        console.print(f"Follow-indexing function (every minute in the cloud), run {len(runs)} times: "
                      + "; ".join(f"{r['applied']} applied, {r['in_progress']} in progress" for r in runs) + "\n")
        show(sandbox)
        erase(sandbox, "ada-1815", ERASED_INSTALL)
        demo_files(sandbox, console)
        mass = [r for r in sandbox.batch_profile.receipts if r["route"] == "profiles.mass_update"]
        console.print(f"Batch Profile API: the files' profiles went to profiles/mass-update ({len(mass)} calls, "
                      f"{sum(r['profiles'] for r in mass)} profiles, answered 202 and applied by Batch afterwards; "
                      f"{sum(r['applied'] for r in mass)} applied by now).")


ERASED_INSTALL = "8a3c1f20-5b7e-4a11-9d0c-2f6e81b4c901"  # in vip_users and beta_testers (examples/messages/)


def erase(sandbox: LocalSandbox, user_id: str, install_id: str) -> None:
    """A right-to-be-forgotten request: one deletion record, then the person's erasure receipt."""
    sandbox.publish([json.dumps({"user_id": user_id, "delete": True, "install_ids": [install_id]})])
    sandbox.deliver_pump().drain()
    follow_indexing(sandbox)
    left = [a for a in AUDIENCES if install_id in sandbox.batch_audience.members(AUDIENCE_APP, a)]
    console.print(f"\nErased {user_id} with one deletion record naming install id {install_id[:8]}…:")
    console.print(f"  Batch iOS holds {sandbox.batch.profile('ios', user_id)}; "
                  f"CleverTap holds {sandbox.clevertap.profile(CLEVERTAP_ACCOUNT, user_id)}; "
                  f"audiences holding the install id: {left}")
    receipts = ErasureReceipts(sandbox.resources["StateTable"]["name"], sandbox.stack.client("dynamodb")).of(user_id)
    console.print(receipt_table(receipts, title=f"Erasure receipt of {user_id} (usersync erasure {user_id})"))


def follow_indexing(sandbox: LocalSandbox, max_runs: int = 10) -> list[dict[str, int]]:
    """Run the scheduled function until Batch has applied every audience change (or gave up)."""
    runs = []
    for _ in range(max_runs):
        runs.append(sandbox.follow_indexing())
        if not runs[-1]["in_progress"] and not runs[-1]["deferred"]:
            break
    return runs


def show(sandbox: LocalSandbox) -> None:
    tokens = sandbox.tokens()
    delivered = Counter()
    for token in tokens:
        delivered[token["destination"]] += int(token["record_count"])
    # A message handed back to SQS is not sent again where it was accepted (the delivery ledger).
    table = Table(title="Delivered (per destination)")
    table.add_column("destination"), table.add_column("records sent", justify="right"), table.add_column("calls", justify="right")
    calls = Counter(t["destination"] for t in tokens)
    for destination in sorted(delivered):
        table.add_row(destination, str(delivered[destination]), str(calls[destination]))
    console.print(table)

    table = Table(title=f"Tokens saved in DynamoDB ({sandbox.resources['StateTable']['name']})")
    for column in ("destination", "kind", "token", "records", "sources", "saved at", "audience indexing"):
        table.add_column(column)
    for token in tokens:
        sources = f"{token['source_count']} records of {len({s.split(' record ')[0] for s in token['sources']})} messages"
        table.add_row(token["destination"], token["token_kind"], token["token"] or f"({token['vendor']} returns none)",
                      str(token["record_count"]), sources, token["created_at"], indexing(token))
    console.print(table)

    failed = sandbox.failed_records()
    table = Table(title=f"Failed-records queue: {len(failed)} records, each with its reason")
    for column in ("source", "destination", "code", "field", "reason"):
        table.add_column(column, overflow="fold")
    for envelope in sorted(failed, key=lambda e: (str(e["source"].get("message_id")), e["source"].get("index", -1))):
        source = envelope["source"]
        where = f"message {source.get('message_id', '')[:8]}… record {source.get('index', '-')}"
        error = envelope["error"]
        reason = error["message"] + (f" [{error.get('vendor_code')}]" if error.get("vendor_code") else "")
        table.add_row(where, envelope["destination"] or "(all)", error["code"], error.get("field", ""), reason)
    console.print(table)

    poisoned = sandbox.queue_bodies("WorkDeadLetterQueue")
    console.print(f"Work queue's dead-letter queue (messages that failed {5} times): {len(poisoned)}")
    profile = sandbox.batch.profile("ios", "vincent-42")
    console.print("\nProfile of vincent-42 as the Batch iOS app now holds it:")
    console.print(profile)
    console.print(f"\nProfile of vincent-42 as the Batch project {PROFILE_PROJECT} now holds it (Profile API: "
                  "update for messages, native attributes among the rest):")
    console.print(sandbox.batch_profile.profile(PROFILE_PROJECT, "vincent-42"))
    show_clevertap(sandbox, tokens, failed)
    console.print(f"\nBatch Custom Audience members in the {AUDIENCE_APP} app (the last action per install id wins):")
    for audience in AUDIENCES:
        console.print(f"  {audience}: {sandbox.batch_audience.members(AUDIENCE_APP, audience)}")


def indexing(token: dict) -> str:
    if token["token_kind"] != "indexing":
        return ""
    state = f"{token['indexing_state']} {token['audience']}"
    if "indexing_seconds" in token:
        state += f" after {float(token['indexing_seconds']):.2f} s, {token['indexing_checks']} checks"
    return state


def show_clevertap(sandbox: LocalSandbox, tokens: list[dict], failed: list[dict]) -> None:
    uploads = [t for t in tokens if t["vendor"] == "clevertap"]
    refused = [f for f in failed if f["destination"] == "clevertap" and f["error"].get("vendor_status") == 200]
    before = [f for f in failed if f["destination"] == "clevertap" and "vendor_status" not in f["error"]]
    console.print(f"\nCleverTap (account {CLEVERTAP_ACCOUNT}): {sum(int(t['record_count']) for t in uploads)} records "
                  f"processed in {len(uploads)} calls, {len(refused)} refused in CleverTap's 200 answers (partial or "
                  f"fail, each with CleverTap's code), {len(before)} refused by usersync before sending.")
    for failure in refused:
        console.print(f"  {failure['record']['user_id']}: code {failure['error']['vendor_code']} — "
                      f"{failure['error']['message']}")
    console.print("Profile of jack-1189549 as CleverTap now holds it:")
    console.print(sandbox.clevertap.profile(CLEVERTAP_ACCOUNT, "jack-1189549"))


if __name__ == "__main__":
    main()
