"""Console, errors and progress bars shared by the CLI modules."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

console = Console(width=200 if not sys.stdout.isatty() else None)
err_console = Console(stderr=True)


class CliError(Exception):
    """A usage problem the CLI reports as one line (exit 2)."""


def progress_bar() -> Progress:
    """The progress bar used by every long-running command (on stderr)."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=err_console, transient=True)

