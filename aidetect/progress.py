"""Rich progress bars on stderr, shared by every long-running step."""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from aidetect.console import err


def make_progress(*extra_columns, disable: bool = False) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *extra_columns,
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
        disable=disable,
    )


@contextlib.contextmanager
def progress_bar(description: str | None, total: int, unit: str = "items") -> Iterator[Callable[[int], None]]:
    """Yields ``advance(n)``; a silent one when ``description`` is None. ``unit`` follows the count."""
    if description is None:
        yield lambda n: None
        return
    with make_progress(TextColumn("{task.fields[unit]}")) as progress:
        task = progress.add_task(description, total=total, unit=unit)
        yield lambda n: progress.advance(task, n)
