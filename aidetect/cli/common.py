"""What every command shares: option aliases, error handling, exit codes.

Imports inside the command functions of aidetect.cli are on purpose: they keep
``aidetect --help`` and every command that does not run the model from loading
torch (about a second). Everywhere else in the package imports sit at module level.

Exit codes: 0 success; 1 some inputs could not be read (the others were
processed and reported); 2 a known error (bad option, missing or damaged
model/gallery), printed as one line; 130 interrupted.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Annotated, Any, Iterator, Optional

import typer

EXIT_INPUT_ERRORS = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

ModelOption = Annotated[
    Optional[Path],
    typer.Option("--model", "-m", help="Model directory (default: $AIDETECT_MODEL, then $AIDETECT_HOME/model, then the bundled model)."),
]
GalleryOption = Annotated[
    Optional[Path],
    typer.Option("--gallery", "-g", help="Gallery file (.npz); default: the model's own gallery."),
]
DeviceOption = Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout instead of a table.")]
BatchOption = Annotated[Optional[int], typer.Option("--batch-size", min=1, help="Images per forward pass (default: 4 on a CPU, where small batches run fastest; 64 on a GPU).")]
WorkersOption = Annotated[int, typer.Option("--workers", min=0, help="Decoding processes (0 = decode in this process).")]
SeedOption = Annotated[int, typer.Option("--seed", help="Seed of every random choice (splits, samples, draws).")]
MaxPerClassOption = Annotated[Optional[int], typer.Option("--max-per-class", min=1, help="Cap images per class and split (quick runs).")]
PathsArgument = Annotated[list[Path], typer.Argument(help="Image files and/or folders (searched recursively).")]


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Known errors become one line on stderr and exit code 2 (traceback with AIDETECT_DEBUG=1)."""
    from aidetect.errors import AidetectError

    try:
        yield
    except AidetectError as exc:
        if os.environ.get("AIDETECT_DEBUG"):
            raise
        from aidetect.console import err

        from rich.markup import escape

        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(EXIT_INTERRUPTED if exc.__class__.__name__ == "TrainingInterrupted" else EXIT_USAGE) from None
    except KeyboardInterrupt:
        from aidetect.console import err

        err.print("interrupted")
        raise typer.Exit(EXIT_INTERRUPTED) from None


def print_json(document: Any) -> None:
    """One JSON document on stdout (plain print: rich would re-wrap it)."""
    print(json.dumps(document, indent=2, ensure_ascii=False, default=str))


def report_input_errors(records: list[dict]) -> int:
    """One stderr line per failed input; returns the exit code the command should end with."""
    from rich.markup import escape

    from aidetect.console import err

    failed = [r for r in records if r.get("error")]
    for record in failed:
        err.print(f"[yellow]skipped[/yellow] {escape(record['error'])}", highlight=False, markup=True)
    return EXIT_INPUT_ERRORS if failed else 0
