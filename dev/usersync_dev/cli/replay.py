"""`usersync replay`: send failed records (and poison messages) back through the pipeline after a fix."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from usersync_dev.cli import app
from usersync_dev.cli.console import console, errors, fail
from usersync_dev.cli.target import EndpointOption, ProfileOption, RegionOption, StackOption, TargetError, resolve_target
from usersync.replays import DEFAULT_KEY_PARAMETER
from usersync_dev.replay import (
    matching_filter, messages_in, replay_failed_records, replay_key, replay_poison_messages, s3_record_reader,
)


@app.command()
def replay(
    destination: Annotated[Optional[list[str]], typer.Option(
        "--destination", "-d", help="Only records that failed for this destination (repeatable).")] = None,
    code: Annotated[Optional[list[str]], typer.Option(
        "--code", "-c", help="Only records that failed with this error code, e.g. VENDOR_REJECTED (repeatable).")] = None,
    retryable_only: Annotated[bool, typer.Option(
        "--retryable-only", help="Only records marked retryable (a configuration or transient problem).")] = False,
    poison: Annotated[bool, typer.Option(
        "--poison", help="Also move the messages of WorkDeadLetterQueue (failed 5 times as a whole) back to "
                         "WorkQueue.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would be replayed; send nothing.")] = False,
    stack: StackOption = None, profile: ProfileOption = None, region: RegionOption = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Re-send failed records through the normal pipeline, after fixing their cause.

    Each matching record in FailedRecordsQueue goes back to WorkQueue for the destination it failed for only.

    It leaves FailedRecordsQueue once SQS took it; if it fails again, it comes back with its new reason.

    A record too large for its envelope is read back from S3 (failed-records/ in the ingest bucket).

    DELIVERY_UNCERTAIN records hold increments the vendor may have applied: check before replaying them.
    """
    target = resolve_target(stack, profile, region, endpoint_url)
    only = matching_filter(destination or (), code or (), retryable_only)
    try:
        sqs = target.client("sqs")
        failed_url, work_url = target.queue_url("FailedRecordsQueue"), target.queue_url("WorkQueue")
        dead_letter_url = target.queue_url("WorkDeadLetterQueue") if poison else None
        with Progress(TextColumn("{task.description:<24}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=errors) as progress:
            task = progress.add_task("failed records", total=messages_in(sqs, failed_url))
            stats = replay_failed_records(sqs, failed_url, work_url, only, lambda n: progress.advance(task, n),
                                          dry_run=dry_run, read_object=s3_record_reader(target.client("s3")))
            poisoned = None
            if dead_letter_url:
                key = replay_key(target.client("ssm"), target.outputs.get("ReplayKeyParameterName",
                                                                          DEFAULT_KEY_PARAMETER))
                task = progress.add_task("poison messages", total=messages_in(sqs, dead_letter_url))
                poisoned = replay_poison_messages(sqs, dead_letter_url, work_url, key,
                                                  lambda n: progress.advance(task, n), dry_run=dry_run)
    except TargetError as exc:
        fail(str(exc))
    except (BotoCoreError, ClientError) as exc:
        fail(f"replaying on {target.description}: {exc}")
    verb = "would be replayed" if dry_run else "replayed"
    console.print(f"Failed records: {stats.replayed} {verb}, {stats.left} left (not matching), "
                  f"{len(stats.not_replayable)} not replayable, of {stats.seen} in the queue.")
    for why in stats.not_replayable:
        console.print(f"  not replayable: {why}", soft_wrap=True)
    if poisoned is not None:
        console.print(f"Poison messages: {poisoned.replayed} {verb} to WorkQueue, of {poisoned.seen}.")
