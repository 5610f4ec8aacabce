"""The one place where output goes: results on stdout, progress and logs on stderr."""

from __future__ import annotations

from rich.console import Console

#: Results (tables, JSON) go to stdout so they can be piped.
out = Console(soft_wrap=True)
#: Progress bars, warnings and errors go to stderr.
err = Console(stderr=True, soft_wrap=True)


def warn(message: str) -> None:
    """One line on stderr; used for bad input files so a batch can go on."""
    err.print(f"[yellow]warning:[/yellow] {message}", markup=True, highlight=False)
