"""What surrounds the epoch loop: Ctrl-C/SIGTERM, the progress display, and errors a user can act on."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import torch

from aidetect.errors import AidetectError


class TrainingInterrupted(AidetectError):
    """Raised after Ctrl-C or SIGTERM, once the checkpoint is saved."""


class StopRequested(Exception):
    """Raised inside the loop once a signal's checkpoint is saved; becomes TrainingInterrupted."""


@contextmanager
def stop_signals(handler: Callable) -> Iterator[None]:
    """SIGINT and SIGTERM call ``handler`` (which asks the loop to stop at the next step) rather
    than killing the run; the previous handlers come back afterwards. Off the main thread
    (where Python allows no signal handlers) nothing is installed."""
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        for s in previous:
            signal.signal(s, handler)
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


@contextmanager
def user_facing_errors(out: Path, batch_size: int, image_size: int) -> Iterator[None]:
    """An interruption or an out-of-memory GPU, said as what to do next."""
    try:
        yield
    except StopRequested:
        raise TrainingInterrupted(
            f"training interrupted; the checkpoint is saved in {out}, continue with the same command and --resume"
        ) from None
    except KeyboardInterrupt:
        raise TrainingInterrupted(f"training interrupted before a checkpoint; {out} keeps the last one") from None
    except torch.cuda.OutOfMemoryError:
        raise AidetectError(
            f"the GPU ran out of memory at batch size {batch_size} and image size {image_size}; "
            "lower --batch-size (or --image-size) and --resume"
        ) from None


def epoch_progress(enabled: bool):
    """The per-epoch progress bars (loss, τ, images/s); ``enabled`` False on DDP ranks other than 0."""
    from rich.progress import TextColumn

    from aidetect.progress import make_progress

    return make_progress(
        TextColumn("loss {task.fields[loss]:.4f}"),
        TextColumn("τ {task.fields[temperature]:.3f}"),
        TextColumn("{task.fields[ips]:.1f} img/s"),
        disable=not enabled,
    )
