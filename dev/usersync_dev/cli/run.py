"""`usersync run`: the whole pipeline on your own input, on this machine, against the vendor simulators.

It starts the local stack (moto server with the template's queues and table, the vendor
simulators), publishes the input the way producers do, runs the real handlers on the events Lambda
would deliver, and prints what happened to every record. Nothing leaves the machine: a
destinations config you pass keeps its names and settings, and its secrets are replaced by the
simulators' keys.

With --live no simulator runs: the records are sent to the vendors the config names (their real base
URLs, unless BATCH_API_URL / BATCH_AUDIENCE_API_URL / BATCH_PROFILE_API_URL / CLEVERTAP_API_URL are set), with the config's
own secrets: env: references from the environment, ssm: and secretsmanager: ones from a secrets file
(--secrets), stored in the local stack as the cloud holds them (usersync_dev.local.live). Every
reference is checked before anything runs.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, NoReturn, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.markup import escape
from rich.table import Table

from usersync_dev.cli import app
from usersync_dev.cli.console import EXIT_PROBLEMS, EXIT_USAGE, Problem, console, errors, fail, print_problems
from usersync_dev.cli.target import LOCAL_PORT
from usersync_dev.local.live import ENV, LiveSetupError, read_secrets_file, references, targets, unresolved
from usersync.config import ConfigError, parse_config

INGEST_PREFIX = "incoming/"  # the ingest function's default INGEST_PREFIX
MAX_MESSAGE_BYTES = 262_144  # WorkQueue's MaximumMessageSize in template.yaml
SQS_BATCH = 10  # SendMessageBatch entries, ReceiveMessage messages


@dataclass
class RunSummary:
    """What happened to the input: the run's result, printed as tables or JSON."""
    messages: int = 0
    records: int = 0
    invocations: int = 0
    handed_back: int = 0  # messages the handler handed back to SQS for a retry
    delivered: dict[str, int] = field(default_factory=dict)  # destination -> records accepted
    calls: dict[str, int] = field(default_factory=dict)  # destination -> accepted calls (tokens)
    failed: list[dict[str, Any]] = field(default_factory=list)  # failed-records envelopes
    dead_letters: int = 0  # whole messages parked in a dead-letter queue (DEAD_LETTER_QUEUES)
    seconds: float = 0.0
    origins: dict[str, str] = field(default_factory=dict)  # message id -> the file or option it came from
    files: list[dict[str, Any]] = field(default_factory=list)  # one job summary per file (usersync.stores.jobs)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.dead_letters and all(job.get("state") == "DONE" for job in self.files)

    def as_dict(self) -> dict[str, Any]:
        failed = Counter((f.get("destination") or "(none)", f["error"]["code"]) for f in self.failed)
        return {
            "messages": self.messages, "records": self.records, "invocations": self.invocations,
            "handed_back_for_retry": self.handed_back, "delivered": self.delivered, "calls": self.calls,
            "failed": [{"destination": d, "code": c, "records": n} for (d, c), n in sorted(failed.items())],
            "failed_records": self.failed, "dead_letter_messages": self.dead_letters, "files": self.files,
            "seconds": round(self.seconds, 3),
        }


@app.command()
def run(
    inputs: Annotated[Optional[list[Path]], typer.Argument(
        exists=True, readable=True, resolve_path=True, show_default=False,
        help="Files to process (a folder: every file in it).")] = None,
    messages: Annotated[bool, typer.Option(
        "--messages", help="Each FILE is one SQS message body (a record, an array of records or {\"records\": [...]}) "
                           "instead of a file dropped in the bucket.")] = False,
    message: Annotated[Optional[list[str]], typer.Option(
        "--message", "-m", help="A message body given inline (repeatable).", show_default=False)] = None,
    config: Annotated[Optional[Path], typer.Option(
        "--config", "-c", exists=True, dir_okay=False, readable=True,
        help="Your destinations config: its names and settings are used, its secrets replaced by the simulators' "
             "keys (with --live: used as written).")] = None,
    live: Annotated[bool, typer.Option(
        "--live", help="Send the records to the REAL vendors the --config names, with its own secrets: no simulator. "
                       "BATCH_API_URL, BATCH_AUDIENCE_API_URL, BATCH_PROFILE_API_URL, CLEVERTAP_API_URL, if set, replace "
                       "the vendors' URLs.",
        rich_help_panel="Live run")] = False,
    secrets_file: Annotated[Optional[Path], typer.Option(
        "--secrets", exists=True, dir_okay=False, readable=True, show_default=False,
        help="With --live: a JSON file mapping each ssm:NAME and secretsmanager:NAME (or NAME#key) reference of the "
             "config, exactly as written, to its value. env:VAR references are read from the environment.",
        rich_help_panel="Live run")] = None,
    failed_out: Annotated[Optional[Path], typer.Option(
        "--failed-out", dir_okay=False, show_default=False,
        help="Write every failed-records envelope to this file, one JSON object per line (for scripts).")] = None,
    batch_size: Annotated[int, typer.Option(
        min=1, max=SQS_BATCH, help="SQS messages per deliver invocation (the template's DeliverBatchSize).")] = SQS_BATCH,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON (progress goes to stderr).")] = False,
    keep: Annotated[bool, typer.Option(
        "--keep", help="Keep the local stack running after the run, for `usersync tokens`, `job`, `replay` (Ctrl-C stops).")] = False,
    port: Annotated[int, typer.Option(
        min=0, max=65535, help="Port of the local stack's moto server with --keep (0: any).")] = LOCAL_PORT,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show the handlers' structured logs.")] = False,
) -> None:
    """Run the pipeline locally on files or messages and print what happened to every record.

    FILEs (.csv, .jsonl, .ndjson, .json, maybe .gz) are dropped in the ingest bucket under incoming/:
    S3 notifies the file function, which plans chunks for the chunk function. With --messages each FILE
    is published to the work queue for the deliver function instead.

    The vendor simulators answer: nothing leaves the machine. With --live the records are SENT to the real vendors.

    Exits 0 when every record was delivered, 1 when some failed (the failed-records list says why), 2 when it could not run.
    """
    bodies, data_files = _inputs(inputs or [], messages, message or [])
    if failed_out is not None:
        _check_writable(failed_out)
    secrets: dict[str, str] = {}
    if live:
        destinations, secrets = _live_config(config, secrets_file)
    else:
        if secrets_file is not None:
            fail("--secrets is for --live runs: without --live the config's secrets are replaced by the simulators' "
                 "keys", EXIT_USAGE)
        destinations = _local_config(config) if config else None

    from usersync_dev.local.sandbox import LocalSandbox  # moto: imported only when a run starts

    quiet = {} if verbose else {"POWERTOOLS_LOG_LEVEL": "ERROR", "POWERTOOLS_METRICS_DISABLED": "true"}
    if not verbose:  # the handlers' logger may exist already (created at import): quiet it too
        from usersync.observability import logger
        logger.setLevel("ERROR")
    if live:
        errors.print("[bold yellow]LIVE:[/] records will be SENT to the real vendors: "
                     + escape(", ".join(str(target) for target in targets(destinations))), soft_wrap=True, emoji=False)
        sandbox = LocalSandbox(config=destinations, environment=quiet, live=True, secrets=secrets)
    else:
        sandbox = LocalSandbox(config=None, environment=quiet)
    if keep:
        from usersync_dev.local.stack import LocalAwsStack
        sandbox.stack = LocalAwsStack(sandbox.stack.template_path, port=port)
    try:
        sandbox.start()
    except (OSError, SystemExit) as exc:
        fail(f"cannot start the local stack: {exc} (is port {port} taken? choose another with --port)", EXIT_USAGE)
    except LiveSetupError as exc:  # the local stack refused a secret's name
        sandbox.stop()
        _refuse(str(exc))
    try:
        if destinations is not None and not live:
            sandbox.put_config(destinations)
        summary = run_pipeline(sandbox, bodies, data_files, batch_size)
        written = _write_failed(failed_out, summary.failed) if failed_out is not None else True
        if as_json:
            console.print_json(json.dumps(summary.as_dict(), default=str))
        else:
            print_summary(summary, sandbox)
        if keep:
            _serve(sandbox)
    finally:
        sandbox.stop()
    if not summary.ok or not written:
        raise typer.Exit(EXIT_PROBLEMS)


def _inputs(inputs: list[Path], messages: bool, inline: list[str]) -> tuple[list[tuple[str, str]], list[Path]]:
    """(origin, body) of every message to publish, and the files to drop in the bucket."""
    files = [child for path in inputs for child in (sorted(p for p in path.iterdir() if p.is_file())
                                                    if path.is_dir() else [path])]
    if not files and not inline:
        fail("nothing to run: give FILE..., or --message BODY", EXIT_USAGE)
    bodies = [(f"--message {i + 1}", body) for i, body in enumerate(inline)]
    if not messages:
        return _checked(bodies), files
    for path in files:
        try:
            bodies.append((str(path), path.read_text(encoding="utf-8-sig")))
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"{path}: cannot read it as UTF-8 text: {exc}", EXIT_USAGE)
    return _checked(bodies), []


def _checked(bodies: list[tuple[str, str]]) -> list[tuple[str, str]]:
    for origin, body in bodies:
        size = len(body.encode("utf-8"))
        if size > MAX_MESSAGE_BYTES:
            fail(f"{origin}: {size:,} bytes, more than an SQS message holds ({MAX_MESSAGE_BYTES:,}): "
                 "split it, or drop it in the bucket as a file", EXIT_USAGE)
        if not body.strip():
            fail(f"{origin}: an SQS message body cannot be empty", EXIT_USAGE)
    return bodies


def _check_writable(path: Path) -> None:
    """Fail before running, not after, when --failed-out cannot be written."""
    if path.is_dir():
        _refuse(f"--failed-out {path}: is a folder; give a file name")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        _refuse(f"--failed-out {path}: the folder {parent} does not exist")
    if (path.exists() and not os.access(path, os.W_OK)) or not os.access(parent, os.W_OK):
        _refuse(f"--failed-out {path}: not writable")


def _write_failed(path: Path, envelopes: list[dict[str, Any]]) -> bool:
    """One failed-records envelope per line, as FailedRecordsQueue holds them (an empty file: none)."""
    try:
        with path.open("w", encoding="utf-8") as out:
            for envelope in envelopes:
                out.write(json.dumps(envelope, ensure_ascii=False, default=str) + "\n")
    except OSError as exc:
        errors.print(f"[bold red]error:[/] --failed-out {escape(str(path))}: {escape(exc.strerror or str(exc))}",
                     soft_wrap=True)
        return False
    return True


def _live_config(path: Optional[Path], secrets_file: Optional[Path]) -> tuple[dict[str, Any], dict[str, str]]:
    """The config as written and the secrets file's values, once every reference is known to resolve."""
    if path is None:
        fail("--live sends to the vendors your destinations config names: give it with --config FILE", EXIT_USAGE)
    text = path.read_text(encoding="utf-8")
    try:
        parse_config(text, origin=str(path))
    except ConfigError as exc:
        fail(str(exc), EXIT_USAGE)
    document = json.loads(text)

    from usersync.secrets import remember

    try:
        secrets = read_secrets_file(secrets_file) if secrets_file is not None else None
    except LiveSetupError as exc:
        _refuse(str(exc))
    for value in (secrets or {}).values():
        remember(value)  # redacted from every log line and error from now on, as resolved secrets are
    for _, reference in references(document):
        if reference.startswith(ENV) and os.environ.get(reference[len(ENV):]):
            remember(os.environ[reference[len(ENV):]])
    problems = unresolved(document, secrets)
    if problems:
        _refuse(f"{path}: {len(problems)} secret reference{'s' if len(problems) > 1 else ''} cannot be resolved "
                "(nothing was run):\n  " + "\n  ".join(problems))
    return document, secrets or {}


def _refuse(message: str) -> NoReturn:
    """A usage error whose text holds references (`env:X:` is no emoji code, `[#key]` no markup)."""
    errors.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True, emoji=False)
    raise typer.Exit(EXIT_USAGE)


def _local_config(path: Path) -> dict[str, Any]:
    """The user's destinations, with their keys (and CleverTap account and region) replaced by the
    simulators' ones, which the sandbox stores."""
    text = path.read_text(encoding="utf-8")
    try:
        parse_config(text, origin=str(path))
    except ConfigError as exc:
        fail(str(exc), EXIT_USAGE)
    document = json.loads(text)
    from usersync_dev.local.sandbox import default_config

    simulated = {settings["type"]: settings for settings in default_config()["destinations"].values()}
    local: dict[str, Any] = {}
    for name, settings in document["destinations"].items():
        if settings["type"] not in simulated:
            fail(f"{path}: destination {name!r}: no local simulator stands in for type {settings['type']!r}",
                 EXIT_USAGE)
        # The sample destination of the same type names what identifies an account: its keys, and for
        # CleverTap the account id and region. Those replace yours; your other settings stay.
        identity = {key: value for key, value in simulated[settings["type"]].items() if key != "type"}
        local[name] = {**settings, **identity}
    return {"destinations": local}


def run_pipeline(sandbox: Any, bodies: list[tuple[str, str]], files: list[Path], batch_size: int) -> RunSummary:
    """Publish the bodies and drop the files in the bucket, run the functions until every queue is
    empty (as Lambda's pollers would), and summarise what happened."""
    summary = RunSummary(messages=len(bodies))
    started = time.monotonic()
    with _progress() as progress:
        if bodies:
            _publish(sandbox, bodies, summary, progress)
        keys = _upload(sandbox, files, progress) if files else []
        if bodies:
            _deliver(sandbox, len(bodies), batch_size, summary, progress)
        if keys:
            _ingest(sandbox, keys, progress)
    delivered: dict[str, int] = defaultdict(int)
    calls: dict[str, int] = defaultdict(int)
    for token in sandbox.tokens():
        calls[token["destination"]] += 1
        if token.get("token_kind") != "dry_run":  # a CleverTap dry run validates, it does not deliver
            delivered[token["destination"]] += int(token["record_count"])
    summary.delivered, summary.calls = dict(delivered), dict(calls)
    summary.failed = sandbox.failed_records()
    summary.dead_letters = sum(len(sandbox.queue_bodies(queue)) for queue in DEAD_LETTER_QUEUES
                               if queue in sandbox.resources)
    summary.files = [sandbox.files.job(key) or {"key": key, "state": "NOT STARTED"} for key in keys]
    summary.records = _count_records(bodies) + sum(job.get("records", {}).get("read", 0) for job in summary.files)
    summary.seconds = time.monotonic() - started
    return summary


DEAD_LETTER_QUEUES = ("WorkDeadLetterQueue", "FileEventsDeadLetterQueue", "ChunkDeadLetterQueue")


def _publish(sandbox: Any, bodies: list[tuple[str, str]], summary: RunSummary, progress: Progress) -> None:
    sqs, queue_url = sandbox.stack.client("sqs"), sandbox.queue_url("WorkQueue")
    task = progress.add_task("publishing to WorkQueue", total=len(bodies))
    for start in range(0, len(bodies), SQS_BATCH):
        chunk = bodies[start:start + SQS_BATCH]
        entries = [{"Id": str(i), "MessageBody": body} for i, (_, body) in enumerate(chunk)]
        answer = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        if answer.get("Failed"):
            refused = answer["Failed"][0]
            fail(f"{chunk[int(refused['Id'])][0]}: the work queue refused it: {refused.get('Message')}")
        summary.origins.update((sent["MessageId"], chunk[int(sent["Id"])][0]) for sent in answer["Successful"])
        progress.advance(task, len(chunk))


def _deliver(sandbox: Any, total: int, batch_size: int, summary: RunSummary, progress: Progress) -> None:
    sqs, queue_url = sandbox.stack.client("sqs"), sandbox.queue_url("WorkQueue")
    pump = sandbox.deliver_pump(batch_size=batch_size)
    task = progress.add_task("deliver function", total=total)
    while pump.run_once():
        progress.update(task, completed=total - _in_queue(sqs, queue_url))
    progress.update(task, completed=total)
    summary.invocations += pump.stats.invocations
    summary.handed_back += pump.stats.failed_messages


def _upload(sandbox: Any, files: list[Path], progress: Progress) -> list[str]:
    prefix = sandbox.environment().get("INGEST_PREFIX") or INGEST_PREFIX
    task = progress.add_task("uploading to the bucket", total=sum(path.stat().st_size for path in files))
    keys = []
    for path in files:
        key = prefix + path.name
        sandbox.files.upload_file(key, path)
        keys.append(key)
        progress.advance(task, path.stat().st_size)
    return keys


def _ingest(sandbox: Any, keys: list[str], progress: Progress) -> None:
    files, chunks = sandbox.files.file_pump(), sandbox.files.chunk_pump()
    task = progress.add_task("file function", total=len(keys))
    files.drain()
    progress.update(task, completed=len(keys))
    total = sum((sandbox.files.job(key) or {}).get("chunks", {}).get("total", 0) for key in keys)
    task = progress.add_task("chunk function", total=total)
    while chunks.run_once():
        progress.update(task, completed=min(total, chunks.stats.messages - chunks.stats.failed_messages))
    progress.update(task, completed=total)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description:<26}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=errors, transient=False)


def _in_queue(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def _count_records(bodies: list[tuple[str, str]]) -> int:
    from usersync.parsing.messages import records_in_message

    return sum(1 for origin, body in bodies for _ in records_in_message(origin, body))


def print_summary(summary: RunSummary, sandbox: Any) -> None:
    sources = [f"{n} {what}{'' if n == 1 else 's'}" for n, what in ((len(summary.files), "file"),
                                                                      (summary.messages, "message")) if n]
    console.print(f"\n[bold]{summary.records} records[/] from {' and '.join(sources)} in {summary.seconds:.1f} s"
                  + (f"; {summary.handed_back} messages handed back to SQS and retried" if summary.handed_back else ""))
    if summary.files:
        table = Table(title="Files", title_justify="left")
        for column in ("key", "state", "records", "rejected", "chunks"):
            table.add_column(column, overflow="fold", justify="right" if column in ("records", "rejected", "chunks") else "left")
        for job in summary.files:
            records, chunks = job.get("records", {}), job.get("chunks", {})
            state = job.get("state") or ""
            table.add_row(job.get("key") or "", state if state == "DONE" else f"[red]{state}[/]",
                          str(records.get("read", "")), str(records.get("rejected", "")),
                          f"{chunks.get('done', 0)}/{chunks.get('total', 0)}")
        console.print(table)
        for job in summary.files:
            if job.get("error"):
                console.print(f"  [red]{job['key']}[/]: {escape(job['error'])}", soft_wrap=True)
            if job.get("report"):
                console.print(f"  report: s3://{job.get('bucket')}/{job['report']}", soft_wrap=True, style="dim")
        console.print("  [dim](with --keep: `usersync job KEY --report` prints a file's report)[/]")
    failed_by_destination = Counter(f.get("destination") or "(none)" for f in summary.failed)
    table = Table(title="Per destination", title_justify="left")
    for column in ("destination", "delivered", "calls", "failed"):
        table.add_column(column, justify="left" if column == "destination" else "right")
    for name in sorted(set(summary.delivered) | set(failed_by_destination) | set(sandbox.config["destinations"])):
        table.add_row(name, str(summary.delivered.get(name, 0)), str(summary.calls.get(name, 0)),
                      str(failed_by_destination.get(name, 0)))
    console.print(table)

    if summary.failed:
        print_problems(failure_problems(summary), f"Failed records ({len(summary.failed)} record × destination):")
    if summary.dead_letters:
        console.print(f"[red]{summary.dead_letters} messages failed 5 times and were parked in WorkDeadLetterQueue.[/]")
    if summary.ok:
        console.print("[green]Every record was delivered.[/]")


def failure_problems(summary: RunSummary) -> list[Problem]:
    """The failed-records envelopes as problems, in the order of the input."""
    problems = []
    for envelope in sorted(summary.failed, key=lambda e: _order(e["source"], summary.origins)):
        error = envelope["error"]
        reason = error["message"] + (f" [{error['vendor_code']}]" if error.get("vendor_code") else "")
        destination = envelope.get("destination")
        problems.append(Problem(_where(envelope["source"], summary.origins), error["code"], error.get("field", ""),
                                reason, (destination,) if destination else ()))
    return problems


def _order(source: dict[str, Any], origins: dict[str, str]) -> tuple:
    message_id = str(source.get("message_id"))
    return (origins.get(message_id, message_id), str(source.get("key")), source.get("index") or -1,
            source.get("line") or -1)


def _where(source: dict[str, Any], origins: dict[str, str]) -> str:
    if source.get("kind") == "s3":
        return f"{source.get('key')}:{source.get('line')}"
    message_id = str(source.get("message_id"))
    origin = Path(origins[message_id]).name if message_id in origins else f"message {message_id[:8]}…"
    return origin if source.get("index") is None else f"{origin}[{source['index']}]"


def _serve(sandbox: Any) -> None:
    endpoint = sandbox.stack.endpoint_url
    option = "" if endpoint.endswith(f":{LOCAL_PORT}") else f" --endpoint-url {endpoint}"
    console.print(f"\nThe local stack stays up at {endpoint}. In another shell:\n"
                  f"  usersync tokens{option}\n  usersync job <file>{option}\n"
                  f"  usersync replay --dry-run{option}\nCtrl-C stops it.")
    # No function runs from here on: the commands above read the stack with the CLI's fixed local keys.
    with sandbox.stack.unchecked():
        try:
            while True:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass


