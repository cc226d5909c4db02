"""Where imsctl writes: data (ids, tables, JSON) to standard output, everything else to standard error.

So ``BACKUP=$(imsctl produce backup-created)`` captures the id alone, while progress and notes stay visible; a
command that creates something takes ``-q/--quiet`` (:data:`QuietOpt`) to print the new id and nothing else, not even
on standard error (errors excepted).
"""

import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.json import JSON
from rich.markup import escape
from rich.text import Text

QuietOpt = Annotated[
    bool,
    typer.Option("--quiet", "-q", help="Print the new id alone: no progress, no notes (errors still show)."),
]
"""The ``-q/--quiet`` option of every command that creates something."""

# Wide enough for a table of ids when the output is a pipe or a file (a terminal uses its own width).
PIPE_WIDTH = 200


def stdout() -> Console:
    return Console(width=None if sys.stdout.isatty() else PIPE_WIDTH, highlight=False, soft_wrap=False)


def stderr() -> Console:
    return Console(stderr=True, width=None if sys.stderr.isatty() else PIPE_WIDTH, highlight=False)


def note(message: str, *, quiet: bool = False) -> None:
    """A line for people on standard error; nothing when the command is ``quiet``."""
    if not quiet:
        stderr().print(message)


def abort(message: str, code: int = 1) -> typer.Exit:
    """Say what went wrong on standard error; the caller raises the returned exit (code 1, or 2 for usage)."""
    stderr().print(f"[bold red]error:[/] {escape(message)}")
    return typer.Exit(code)


def plain(*values: object) -> list[Text]:
    """Table cells shown as they are (a name with brackets is not markup)."""
    return [Text("" if value is None else str(value)) for value in values]


def print_id(value: str) -> None:
    """A bare id on standard output, nothing around it."""
    typer.echo(value)


def print_json(document: Any, *, pretty: bool = True) -> None:
    if not pretty:
        typer.echo(json.dumps(document, default=str))
        return
    text = json.dumps(document, indent=2, default=str)
    if sys.stdout.isatty():
        stdout().print(JSON(text))
    else:
        typer.echo(text)
