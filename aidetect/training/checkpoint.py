"""The ``--resume`` checkpoint: tensors and plain values only, written atomically, read without unpickling objects."""

from __future__ import annotations

import io
import json
from pathlib import Path

import torch

from aidetect.errors import AidetectError
from aidetect.fileio import atomic_write_bytes

#: Options that change what a run learns: a resumed run must be given the ones it started with.
#: (--epochs, --patience, the device and the workers may change; a key an older checkpoint did not
#: record is not compared.)
MUST_MATCH = (
    "data", "setting", "include", "exclude", "arch", "front_end", "stem_stride", "embedding_dim", "batch_size",
    "m_per_class", "image_size", "preprocess_mode", "grid", "train_image_size", "jpeg_p", "blur_p", "resize_p",
    "webp_p", "seed", "loss", "temperature", "memory_size", "real_weight", "lr", "weight_decay",
)


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
