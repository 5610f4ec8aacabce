"""What every command shares: option aliases, error handling, exit codes.

Imports inside the command functions of aidetect.cli are on purpose: they keep
``aidetect --help`` and every command that does not run the model from loading
torch (about a second). Everywhere else in the package imports sit at module level.

Exit codes: 0 success; 1 some inputs could not be read (the others were
processed and reported); 2 a known error (bad option, missing or damaged
model/gallery, an invalid ``$AIDETECT_MAX_PIXELS``, an OS error such as a full disk or an
output path that is a folder), printed as one line; 130 interrupted.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
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
ThreadsOption = Annotated[Optional[int], typer.Option("--threads", min=1, help="CPU threads for the model (default: torch's choice; 1 on a busy machine: two threads on a loaded 2-core machine ran a forward pass 60x slower).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout instead of a table.")]
BatchOption = Annotated[Optional[int], typer.Option("--batch-size", min=1, help="Images per forward pass (default: 4 on a CPU, where small batches run fastest; 64 on a GPU).")]
WorkersOption = Annotated[int, typer.Option("--workers", min=0, help="Decoding processes (0 = decode in this process).")]
PixelCacheOption = Annotated[Optional[Path], typer.Option("--pixel-cache", help="Folder of decoded pixels: files not in it are decoded into it first (by --workers processes; it says the disk size before), then read from it. See docs/performance.md.")]
SeedOption = Annotated[int, typer.Option("--seed", help="Seed of every random choice (splits, samples, draws).")]
MaxPerClassOption = Annotated[Optional[int], typer.Option("--max-per-class", min=1, help="Cap images per class and split (quick runs).")]
# Strings, not Paths: a path is reported exactly as given (``./x.png`` stays ``./x.png``), and no
# check happens while parsing (Typer's Path checks readability: one unreadable file named on the
# command line would end the whole batch with exit 2 instead of being one error record).
PathsArgument = Annotated[list[str], typer.Argument(help="Image files and/or folders (searched recursively).", metavar="PATHS...")]


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Known errors become one line on stderr and exit code 2 (traceback with AIDETECT_DEBUG=1).

    Known: every :class:`~aidetect.errors.AidetectError`, an invalid ``$AIDETECT_MAX_PIXELS``
    (checked first: one configuration error, not every image failing), and any ``OSError``
    (disk full, a folder where a file was named, a file in the way of a folder): the file and
    the reason in words.
    """
    from aidetect.errors import AidetectError

    try:
        if os.environ.get("AIDETECT_MAX_PIXELS") is not None:
            from aidetect.data.images import max_pixels_from_env

            max_pixels_from_env()
        yield
    except AidetectError as exc:
        if os.environ.get("AIDETECT_DEBUG"):
            raise
        _error_line(str(exc))
        raise typer.Exit(EXIT_INTERRUPTED if exc.__class__.__name__ == "TrainingInterrupted" else EXIT_USAGE) from None
    except OSError as exc:
        if os.environ.get("AIDETECT_DEBUG"):
            raise
        from aidetect.fileio import describe_os_error

        _error_line(describe_os_error(exc))
        raise typer.Exit(EXIT_USAGE) from None
    except KeyboardInterrupt:
        from aidetect.console import err

        err.print("interrupted")
        raise typer.Exit(EXIT_INTERRUPTED) from None


def _error_line(message: str) -> None:
    from aidetect.console import err, markup_safe

    err.print(f"[red]error:[/red] {markup_safe(' '.join(message.split()))}", highlight=False)


def _stdout_is_utf8() -> bool:
    encoding = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "").replace("_", "")
    return encoding in ("utf8", "utf8sig")


def print_json(document: Any) -> None:
    """One JSON document on stdout (plain print: rich would re-wrap it).

    Always valid UTF-8, whatever the file names: strings with bytes that are not UTF-8 are
    escaped and flagged (aidetect.console.for_output); on a stdout that is not UTF-8 the
    document is pure ASCII (``\\u`` escapes), so printing never fails.
    """
    from aidetect.console import for_output

    print(json.dumps(for_output(document), indent=2, ensure_ascii=not _stdout_is_utf8(), default=str))


def refuse_folder_as_file(path: str | os.PathLike | None, option: str) -> None:
    """Before any work: an output file option naming an existing folder is one line, exit 2."""
    if path is not None and os.path.isdir(path):
        from aidetect.errors import AidetectError

        raise AidetectError(f"{option} {os.fspath(path)} is a folder; name a file to write")


def report_input_errors(records: list[dict]) -> int:
    """One stderr line per failed input; returns the exit code the command should end with."""
    from aidetect.console import err, markup_safe

    failed = [r for r in records if r.get("error")]
    for record in failed:
        err.print(f"[yellow]skipped[/yellow] {markup_safe(record['error'])}", highlight=False, markup=True)
    return EXIT_INPUT_ERRORS if failed else 0


def apply_threads(threads: int | None) -> None:
    """``--threads``: torch's intra-op threads for this process (imports torch, so only commands that run the model call it)."""
    if threads is not None:
        import torch

        torch.set_num_threads(int(threads))
