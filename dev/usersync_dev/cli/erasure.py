"""`usersync erase` queues deletions; `usersync erasure` shows a person's erasure receipt."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.table import Table

from usersync.stores.erasures import CONFIRMED, ErasureReceipts
from usersync_dev.cli import app
from usersync_dev.cli.console import EXIT_USAGE, console, fail
from usersync_dev.cli.target import (
    EndpointOption, ProfileOption, RegionOption, StackOption, TargetError, resolve_target,
)

PER_MESSAGE = 500  # deletions per WorkQueue message: well under its 256 KiB


def deletions(path: Path) -> list[dict[str, Any]]:
    """One person a line: `user_id`, optionally followed by install ids (blank-separated)."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{path}: cannot read it as UTF-8 text: {exc}", EXIT_USAGE)
    records = []
    for line in lines:
        if not line.strip():
            continue
        user_id, *install_ids = line.split()
        record: dict[str, Any] = {"user_id": user_id, "delete": True}
        if install_ids:
            record["install_ids"] = install_ids
        records.append(record)
    return records


@app.command()
def erase(
    ids: Annotated[Path, typer.Option(
        "--ids", exists=True, dir_okay=False, readable=True,
        help="A file of the people to erase: one user id a line, optionally followed by install ids.")],
    stack: StackOption = None, profile: ProfileOption = None, region: RegionOption = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Queue the erasure of people: each is deleted at every destination that holds them.

    Deletions go to WorkQueue like any record: retried, paced, and reported in the failed-records
    queue when a vendor refuses. `usersync erasure USER_ID` shows what each vendor confirmed.
    """
    records = deletions(ids)
    if not records:
        fail(f"{ids}: no user id in it", EXIT_USAGE)
    target = resolve_target(stack, profile, region, endpoint_url)
    try:
        sqs, url = target.client("sqs"), target.queue_url("WorkQueue")
        for start in range(0, len(records), PER_MESSAGE):
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps(records[start:start + PER_MESSAGE]))
    except TargetError as exc:
        fail(str(exc))
    except (BotoCoreError, ClientError) as exc:
        fail(f"queueing deletions on {target.description}: {exc}")
    console.print(f"Queued the erasure of {len(records)} people on {target.description}.")


@app.command()
def erasure(
    user_id: Annotated[str, typer.Argument(help="The person's user id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    stack: StackOption = None, profile: ProfileOption = None, region: RegionOption = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Show a person's erasure receipt: per destination, when the vendor confirmed it (and its token)
    or why it could not. Exits 1 when there is no receipt or a destination did not confirm."""
    target = resolve_target(stack, profile, region, endpoint_url)
    try:
        found = ErasureReceipts(target.state_table, target.client("dynamodb")).of(user_id)
    except TargetError as exc:
        fail(str(exc))
    except (BotoCoreError, ClientError) as exc:
        fail(f"reading erasure receipts from {target.description}: {exc}")
    if as_json:
        console.print_json(json.dumps(found, default=str))
    else:
        console.print(receipt_table(found, title=f"Erasure of {user_id} ({target.description})"))
    if not found:
        fail(f"no erasure receipt for {user_id!r} (not requested, still in progress, or expired)")
    if any(r["state"] != CONFIRMED for r in found):
        raise typer.Exit(1)


def receipt_table(receipts: list[dict[str, Any]], title: str) -> Table:
    """A person's receipts, one row per destination: confirmed with its token, or failed with why."""
    table = Table(title=title, title_justify="left")
    for column in ("destination", "state", "requested (UTC)", "at (UTC)", "token or reason"):
        table.add_column(column, overflow="fold")
    for receipt in sorted(receipts, key=lambda r: r["destination"]):
        detail = receipt.get("token") if receipt["state"] == CONFIRMED else \
            f"{receipt.get('code', '')}: {receipt.get('reason', '')}"
        table.add_row(receipt["destination"], receipt["state"], _time(receipt.get("requested_at")),
                      _time(receipt.get("at")), detail or "-")
    return table


def _time(stamp: Any) -> str:
    return str(stamp or "")[:19].replace("T", " ")
