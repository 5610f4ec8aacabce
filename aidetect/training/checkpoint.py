"""The ``--resume`` checkpoint: tensors and plain values only, written atomically, read without unpickling objects."""

from __future__ import annotations

import io
import json
from pathlib import Path

import torch

from aidetect.errors import AidetectError
from aidetect.fileio import atomic_write_bytes
from aidetect.training.options import FLAT_OPTIONS

#: Options a resumed run may change: where and how fast it runs, how long, and what happens after
#: training. Every other option (training.options.FLAT_OPTIONS) changes what the run learns, so a
#: resumed run must be given the one it started with: an option added later is compared unless it
#: is named here. A key an older checkpoint did not record is not compared.
FREE_ON_RESUME = frozenset({
    "out", "init", "recipe", "epochs", "patience", "device", "workers", "resume", "channels_last", "compile",
    "pixel_cache", "gallery_per_class", "choose_spectrum_weight", "vote",
})
MUST_MATCH = tuple(key for key in FLAT_OPTIONS if key not in FREE_ON_RESUME)


def write_checkpoint(path: Path, state: dict) -> None:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def read_checkpoint(path: Path) -> dict:
    if not path.is_file():
        raise AidetectError(f"--resume: no checkpoint at {path}; run without --resume to start")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise AidetectError(f"{path} cannot be read as a checkpoint ({exc.__class__.__name__}); start again without --resume") from None


def check_same_run(state: dict, options: dict) -> None:
    """``options`` (flat, as TrainOptions.flat) against those the checkpoint was made with."""
    saved = json.loads(state["options_json"])
    for key in MUST_MATCH:
        mine = options[key]
        if key in saved and saved[key] != mine and not (key == "data" and Path(saved[key]) == Path(mine)):
            raise AidetectError(f"--resume: the checkpoint was made with {key}={saved[key]!r}, not {mine!r}; use the same options")
