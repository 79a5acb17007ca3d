"""`usersync validate`: every problem of a file, with its line and field, per destination, before upload.

Nothing is sent, except with `--dry-run`: then the records CleverTap destinations would take go to
CleverTap's `?dryRun=1`, which validates without writing.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from usersync_dev.cli import app
from usersync_dev.cli.console import EXIT_PROBLEMS, EXIT_USAGE, Problem, console, errors, fail, print_problems
from usersync.config import ConfigError, DestinationsConfig, parse_config
from usersync.delivery.destination import Destination
from usersync.failures import FailedRecord
from usersync.settings import VendorAccessSettings
from usersync.vendors.base import VendorContext
from usersync_dev.local.file_records import plan_local_file
from usersync.parsing.files import FileRejected
from usersync.parsing.messages import records_in_message
from usersync.records import SourcedRecord, Unparsable
from usersync_dev.validation import ValidationReport, validate as check

PROGRESS_EVERY = 1_000  # records between two updates of the progress bar

# Without --config, records are checked against one destination of each vendor type. These
# secrets are never resolved: validate sends nothing (and --dry-run needs your --config).
_UNUSED = "env:USERSYNC_VALIDATE_SENDS_NOTHING"
BUILT_IN_DESTINATIONS = {
    "batch": {"type": "batch", "api_key": _UNUSED, "rest_key": _UNUSED},
    "batch_audience": {"type": "batch_audience", "api_key": _UNUSED, "rest_key": _UNUSED},
    "clevertap": {"type": "clevertap", "account_id": "TEST-000-000-0000", "passcode": _UNUSED, "region": "eu1"},
}


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(
        exists=True, dir_okay=False, readable=True, show_default=False,
        help="Files to check: .csv, .jsonl, .ndjson, .json, each maybe .gz.")],
    messages: Annotated[bool, typer.Option(
        "--messages", help="Each FILE is one SQS message body: a record, an array or {\"records\": [...]}.")] = False,
    config: Annotated[Optional[Path], typer.Option(
        "--config", "-c", exists=True, dir_okay=False, readable=True,
        help="Your destinations config; without it each record is checked against one destination per vendor.")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Also send what CleverTap destinations would take to CleverTap's dryRun (needs --config "
                          "and its secrets; nothing is written).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    max_problems: Annotated[Optional[int], typer.Option(
        min=1, help="Print at most this many problems (all are counted).", show_default=False)] = None,
) -> None:
    """Check files before upload: every problem, with its line and field, per destination.

    FILE is a .csv, .jsonl/.ndjson or .json file, maybe .gz, read exactly as the pipeline reads it in S3;
    with --messages, each FILE is one SQS message body instead.

    Exits 0 when every record would be delivered everywhere it goes, 1 when there are problems.
    """
    if dry_run and config is None:
        fail("--dry-run sends to CleverTap with your credentials: give your destinations with --config", EXIT_USAGE)
    destinations, built_in = _destinations(config)
    dry = {name for name, d in destinations.items() if d.vendor == "clevertap"} if dry_run else set()
    if dry_run and not dry:
        fail(f"{config}: no clevertap destination to dry-run", EXIT_USAGE)

    reports: list[tuple[Path, ValidationReport | FileRejected]] = []
    for path in files:
        try:
            report = check(_items(path, messages), destinations, ignore_named_destinations=built_in,
                           keep_for=frozenset(dry))
        except FileRejected as refused:  # the file as a whole: nothing of it would be delivered
            reports.append((path, refused))
            continue
        if dry:
            report.failed.extend(_dry_run(config, report))
        reports.append((path, report))
    if as_json:
        console.print_json(json.dumps([_as_dict(path, report) for path, report in reports], default=str))
    else:
        for path, report in reports:
            if isinstance(report, FileRejected):
                console.print(f"[bold]{path}[/]: [red]FILE_REJECTED[/] {escape(str(report))}", soft_wrap=True)
            else:
                _print(path, report, sorted(destinations), built_in, max_problems)
    if any(isinstance(report, FileRejected) or not report.ok for _, report in reports):
        raise typer.Exit(EXIT_PROBLEMS)


def _vendor_context() -> VendorContext:
    """Vendors as this machine reaches them: its environment's base URLs and secrets."""
    return VendorAccessSettings.from_environment().vendor_context()


def _destinations(config: Path | None) -> tuple[dict[str, Destination], bool]:
    """(destinations by name, whether they are the built-in ones)."""
    if config is not None:
        try:
            return parse_config(config.read_text(encoding="utf-8"), origin=str(config)).build(_vendor_context()), False
        except (ConfigError, OSError, UnicodeDecodeError) as exc:
            fail(str(exc), EXIT_USAGE)
    built: dict[str, Destination] = {}
    for name, settings in BUILT_IN_DESTINATIONS.items():
        try:  # a vendor type this version does not have is left out
            parsed = DestinationsConfig.model_validate({"destinations": {name: settings}})
        except ValueError:
            continue
        built.update(parsed.build(_vendor_context()))
    return built, True


def _items(path: Path, messages: bool) -> Iterator[SourcedRecord | Unparsable]:
    if not messages:
        local = plan_local_file(path)  # raises FileRejected before the first record of a bad file
        with Progress(TextColumn("checking {task.fields[name]}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=errors, transient=True) as progress:
            task = progress.add_task("", total=local.rows, name=path.name)
            for count, item in enumerate(local.records(), start=1):
                if count % PROGRESS_EVERY == 0:
                    progress.update(task, completed=count)
                yield item
        return
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{path}: cannot read it as UTF-8 text: {exc}", EXIT_USAGE)
    yield from records_in_message(str(path), text)


def _dry_run(config: Path, report: ValidationReport) -> list[FailedRecord]:
    """Send the records CleverTap would take to its dryRun; return what it refused."""
    from usersync.delivery.pipeline import deliver

    settings = parse_config(config.read_text(encoding="utf-8"), origin=str(config)).destinations
    failed: list[FailedRecord] = []
    for name, items in report.accepted_items.items():
        destination = settings[name].model_copy(update={"dry_run": True}).build(name, _vendor_context())
        answer = deliver(items, {name: destination})
        unavailable = [FailedRecord(retry.item.raw, retry.item.source, name, "DRY_RUN_UNAVAILABLE",
                                    f"CleverTap's dryRun did not answer: {retry.reason}", retryable=True)
                       for retry in answer.retries]  # the records are not known good
        failed.extend(answer.failed + unavailable)
        report.accepted[name] -= len({f.source for f in answer.failed + unavailable})
    return failed


def where(failure: FailedRecord) -> str:
    source = failure.source
    if source.line is not None:
        return f"{Path(source.key or '').name}:{source.line}"
    name = Path(source.message_id or "").name
    return name if source.index is None else f"{name}[{source.index}]"


def _print(path: Path, report: ValidationReport, names: list[str], built_in: bool, limit: int | None) -> None:
    against = "one destination per vendor (pass --config for yours)" if built_in else "your destinations"
    console.print(f"[bold]{path}[/]: {_plural(report.records, 'record')} checked against {against}", soft_wrap=True)
    refused = Counter(f.destination for f in report.failed if f.destination)
    invalid = len([f for f in report.failed if not f.destination])
    table = Table(title_justify="left")
    for column in ("destination", "would send", "refused"):
        table.add_column(column, justify="left" if column == "destination" else "right")
    for name in names:
        table.add_row(name, str(report.accepted.get(name, 0)), str(refused.get(name, 0)))
    if invalid:
        table.add_row("(no destination: invalid record)", "-", str(invalid))
    console.print(table)
    if report.ok:
        console.print("[green]No problem found.[/]")
        return
    problems = [Problem(where(f), f.code, f.field or "", f.message + (f" [{f.vendor_code}]" if f.vendor_code else ""),
                        (f.destination,) if f.destination else ()) for f in report.failed]
    shown = problems if limit is None else problems[:limit]
    print_problems(shown, f"{_plural(len(report.failed), 'problem')} (record × destination):")
    if len(shown) < len(problems):
        console.print(f"  … and {len(problems) - len(shown)} more (--json lists them all)")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _as_dict(path: Path, report: ValidationReport | FileRejected) -> dict[str, Any]:
    if isinstance(report, FileRejected):
        return {"file": str(path), "ok": False, "rejected": str(report), "records": 0, "would_send": {}, "problems": []}
    return {
        "file": str(path), "records": report.records, "ok": report.ok, "would_send": report.accepted,
        "problems": [{"where": where(f), "destination": f.destination, **{
            k: v for k, v in f.envelope()["error"].items()}, "source": f.source.as_dict()} for f in report.failed],
    }
