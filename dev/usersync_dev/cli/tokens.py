"""`usersync tokens`: the tokens the vendors returned, as saved in DynamoDB (newest first)."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Optional

import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.table import Table

from usersync_dev.cli import app
from usersync_dev.cli.console import console, fail
from usersync_dev.cli.target import (
    EndpointOption, ProfileOption, RegionOption, StackOption, TargetError, resolve_target,
)
from usersync.stores.tokens import TokenStore, plain, token_pk


@app.command()
def tokens(
    destination: Annotated[Optional[str], typer.Option(
        "--destination", "-d", help="Only this destination's tokens (a query; without it the table is scanned).")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=10_000, help="How many tokens to show.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    stack: StackOption = None, profile: ProfileOption = None, region: RegionOption = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Show the tokens the vendors returned for each accepted call, newest first.

    Batch answers every accepted call with a token: quote it to Batch's support to trace a change.
    Exits 1 when there is none.
    """
    target = resolve_target(stack, profile, region, endpoint_url)
    try:
        dynamodb = target.client("dynamodb")
        if destination:
            found = TokenStore(target.state_table, client=dynamodb).recent(destination, limit)
        else:
            found = latest_tokens(dynamodb, target.state_table, limit)
    except TargetError as exc:
        fail(str(exc))
    except (BotoCoreError, ClientError) as exc:
        fail(f"reading tokens from {target.description}: {exc}")
    if as_json:
        console.print_json(json.dumps(found, default=_number))
    else:
        console.print(token_table(found, title=f"Tokens in {target.state_table} ({target.description})"))
    if not found:
        fail("no token found" + (f" for destination {destination!r}" if destination else ""))


def latest_tokens(dynamodb: Any, table: str, limit: int) -> list[dict[str, Any]]:
    """The newest tokens of every destination. Scans the table (tokens are one partition per
    destination, and the CLI does not know the destinations): fine for a person, not for the pipeline."""
    found: list[dict[str, Any]] = []
    pages = dynamodb.get_paginator("scan").paginate(
        TableName=table, FilterExpression="begins_with(pk, :prefix)",
        ExpressionAttributeValues={":prefix": {"S": token_pk("")}})
    for page in pages:
        found.extend(plain(item) for item in page["Items"])
    found.sort(key=lambda token: token.get("created_at", ""), reverse=True)
    return found[:limit]


def token_table(found: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column, justify in (("saved at (UTC)", "left"), ("destination", "left"), ("kind", "left"), ("token", "left"),
                            ("records", "right"), ("from", "left")):
        table.add_column(column, justify=justify, overflow="fold")
    for token in found:
        sources = token.get("sources") or []
        more = int(token.get("source_count", len(sources))) - 1
        first = re.sub(r"^s3://[^/]+/", "", sources[0]) if sources else ""  # the bucket is the stack's
        origin = first + (f" (+{more} more)" if more > 0 else "")
        kind = token.get("token_kind", "")
        if token.get("indexing_state"):
            kind += f" ({token['indexing_state']})"
        saved = str(token.get("created_at", ""))[:19].replace("T", " ")  # UTC
        table.add_row(saved, token.get("destination", ""), kind, token.get("token") or "-",
                      str(token.get("record_count", "")), origin)
    return table


def _number(value: Any) -> Any:
    # DynamoDB numbers come back as Decimal
    return int(value) if value == int(value) else float(value)
