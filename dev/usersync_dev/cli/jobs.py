"""`usersync job`: what happened to a file dropped in the ingest bucket (its job and report)."""

from __future__ import annotations

import json
from typing import Annotated, Any, Optional

import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.table import Table

from usersync_dev.cli import app
from usersync_dev.cli.console import console, fail
from usersync_dev.cli.target import (
    EndpointOption, ProfileOption, RegionOption, StackOption, TargetError, resolve_target,
)
from usersync.stores.jobs import JobStore, summary

INGEST_PREFIX = "incoming/"


def split_location(location: str, default_bucket: str | None) -> tuple[str, str]:
    """`s3://bucket/key` -> (bucket, key); a bare key is in the stack's ingest bucket."""
    if location.startswith("s3://"):
        bucket, _, key = location[5:].partition("/")
        if not bucket or not key:
            fail(f"{location!r}: expected s3://<bucket>/<key>", 2)
        return bucket, key
    if not default_bucket:
        fail("the stack has no IngestBucketName output: give the file as s3://<bucket>/<key>", 2)
    return default_bucket, location


@app.command()
def job(
    file: Annotated[str, typer.Argument(help="The file: its key in the ingest bucket (incoming/users.csv, or "
                                             "users.csv), or s3://<bucket>/<key>.")],
    every_version: Annotated[bool, typer.Option("--all", help="Every job of this key (one per version), newest first.")] = False,
    report: Annotated[bool, typer.Option("--report", help="Print the job's JSON report from S3.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    stack: StackOption = None, profile: ProfileOption = None, region: RegionOption = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Show the job of a file: its state, records read and rejected, delivered per destination.

    Exits 1 when the file has no job, or when its (newest) job FAILED.
    """
    target = resolve_target(stack, profile, region, endpoint_url)
    try:
        bucket, key = split_location(file, target.outputs.get("IngestBucketName"))
        store = JobStore(target.state_table, client=target.client("dynamodb"))
        items = store.jobs_of(bucket, key)
        if not items and not key.startswith(INGEST_PREFIX):
            key = INGEST_PREFIX + key
            items = store.jobs_of(bucket, key)
        jobs = [summary(item) for item in (items if every_version else items[:1])]
        document = None
        if report and jobs and jobs[0]["report"]:
            body = target.client("s3").get_object(Bucket=bucket, Key=jobs[0]["report"])["Body"].read()
            document = json.loads(body)
    except TargetError as exc:
        fail(str(exc))
    except (BotoCoreError, ClientError) as exc:
        fail(f"reading the job of s3://{bucket}/{key} from {target.description}: {exc}")
    if not jobs:
        fail(f"no job for s3://{bucket}/{key}: was it dropped under {INGEST_PREFIX}?")
    if document is not None:
        console.print_json(json.dumps(document, default=str))
    elif as_json:
        console.print_json(json.dumps(jobs if every_version else jobs[0], default=str))
    else:
        for one in jobs:
            console.print(job_table(one))
    if jobs[0]["state"] == "FAILED":
        raise typer.Exit(1)


def job_table(job: dict[str, Any]) -> Table:
    state = job["state"]
    colour = {"DONE": "green", "FAILED": "red"}.get(state, "yellow")
    records = job["records"]
    title = (f"s3://{job['bucket']}/{job['key']} (version {job['version']}): [{colour}]{state}[/]  "
             f"{records['read']:,} of {records['in_file']:,} records read in {job['chunks']['done']}/"
             f"{job['chunks']['total']} chunks, {records['rejected']:,} rejected for every destination")
    table = Table(title=title, title_justify="left")
    table.add_column("destination")
    table.add_column("delivered", justify="right")
    table.add_column("rejected", justify="right")
    for name, counts in job["destinations"].items():
        table.add_row(name, f"{counts['delivered']:,}", f"{counts['rejected']:,}")
    if job["errors"]:
        table.caption = "failed records by code: " + ", ".join(f"{c} {n:,}" for c, n in job["errors"].items())
    if job["error"]:
        table.caption = f"[red]{job['error']}[/]"
    table.caption_justify = "left"
    times = [f"{name} {job[name]}" for name in ("created_at", "finished_at") if job.get(name)]
    if job["report"]:
        times.append(f"report s3://{job['bucket']}/{job['report']}")
    if times:
        table.caption = ((table.caption + "\n") if table.caption else "") + "  ".join(times)
    return table
