"""`make demo`: the real handlers on the real event shapes, against moto server and the
vendor simulators on 127.0.0.1, then a summary of what happened to every record."""

from __future__ import annotations

import os
import shutil
from collections import Counter

from rich.console import Console
from rich.table import Table

from usersync.local.sandbox import LocalSandbox, example_messages
from usersync.simulation import Fault

console = Console(width=max(140, shutil.get_terminal_size((140, 40)).columns))


def main() -> None:
    # The tables below summarise what the handlers log; `LOG_LEVEL=INFO make demo` shows the logs too.
    quiet = {"POWERTOOLS_LOG_LEVEL": os.environ.get("LOG_LEVEL", "ERROR"), "POWERTOOLS_METRICS_DISABLED": "true"}
    with LocalSandbox(environment=quiet) as sandbox:
        console.print(f"[bold]usersync demo[/] — AWS emulated by moto at {sandbox.stack.endpoint_url}, "
                      f"Batch simulator at {sandbox.batch.url}")
        messages = example_messages()
        sandbox.publish([body for _, body in messages])
        console.print(f"Published {len(messages)} sample messages from examples/messages/ to the work queue.")

        # One simulated outage, to show a message handed back to SQS and delivered on retry.
        sandbox.batch.inject(Fault.status(503), times=1)
        stats = sandbox.deliver_pump(batch_size=3).drain()
        console.print(f"Deliver function: {stats.invocations} invocations, {stats.messages} messages received, "
                      f"{stats.failed_messages} handed back to SQS for retry (a simulated Batch 503).\n")
        show(sandbox)


def show(sandbox: LocalSandbox) -> None:
    tokens = sandbox.tokens()
    delivered = Counter()
    for token in tokens:
        delivered[token["destination"]] += int(token["record_count"])
    # A message handed back to SQS is delivered again to every destination, including those that
    # had taken it: harmless for the set operations Batch applies, counted here as re-sent.
    table = Table(title="Delivered (per destination)")
    table.add_column("destination"), table.add_column("records sent", justify="right"), table.add_column("calls", justify="right")
    calls = Counter(t["destination"] for t in tokens)
    for destination in sorted(delivered):
        table.add_row(destination, str(delivered[destination]), str(calls[destination]))
    console.print(table)

    table = Table(title=f"Tokens saved in DynamoDB ({sandbox.resources['StateTable']['name']})")
    for column in ("destination", "token", "records", "sources", "saved at"):
        table.add_column(column)
    for token in tokens:
        sources = f"{token['source_count']} records of {len({s.split(' record ')[0] for s in token['sources']})} messages"
        table.add_row(token["destination"], token["token"], str(token["record_count"]), sources, token["created_at"])
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


if __name__ == "__main__":
    main()
