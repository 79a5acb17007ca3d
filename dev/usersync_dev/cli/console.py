"""What every command prints with: one console for results (stdout), one for problems (stderr)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)

EXIT_PROBLEMS = 1  # the command ran and found problems (invalid records, failed deliveries, nothing found)
EXIT_USAGE = 2  # bad arguments, unreadable input: the command could not run (Click uses 2 too)


def fail(message: str, code: int = EXIT_PROBLEMS) -> NoReturn:
    """Print `message` on stderr and exit with `code`."""
    errors.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    raise typer.Exit(code)


@dataclass(frozen=True, order=True)
class Problem:
    """One reason one record does not reach some destinations, as `run` and `validate` print it."""
    where: str  # "users.csv:12", "01-profiles.json #3"
    code: str
    field: str
    message: str
    destinations: tuple[str, ...] = ()  # empty: every destination (the record itself is invalid)


def print_problems(problems: Iterable[Problem], title: str) -> None:
    """A list, not a table: the reasons are sentences and stay readable in any terminal width.
    Problems that differ only by destination share one entry."""
    merged: dict[tuple[str, str, str, str], set[str]] = {}
    for problem in problems:
        merged.setdefault((problem.where, problem.code, problem.field, problem.message), set()).update(
            problem.destinations)
    console.print(f"[bold]{title}[/]")
    for (where, code, field, message), destinations in merged.items():
        target = ", ".join(sorted(destinations)) if destinations else "every destination"
        at = f" [cyan]{field}[/]" if field else ""
        console.print(f"  [bold]{escape(where)}[/]{at}  [red]{code}[/] → {escape(target)}", soft_wrap=True)
        console.print(f"      {escape(message)}", soft_wrap=True)
