"""Reading and writing tensors without unpickling anything a user hands us."""

from __future__ import annotations

from pathlib import Path

import torch

from aidetect.errors import CorruptFileError, UnsafeFileError

_PICKLE_PROTOCOL_BYTE = 0x80
_ZIP_MAGIC = b"PK\x03\x04"


def tensors_to_bytes(state: dict[str, torch.Tensor]) -> bytes:
    from safetensors.torch import save

    return save({k: v.detach().contiguous().cpu() for k, v in state.items()})


def read_safetensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a safetensors file; anything else (a planted pickle, a truncated file) is refused."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CorruptFileError(f"{path} is missing; the model directory is incomplete, copy it again") from None
    if data[:1] == bytes([_PICKLE_PROTOCOL_BYTE]) or data[:4] == _ZIP_MAGIC:
        raise UnsafeFileError(
            f"{path} is a pickle/torch.save file, not safetensors; aidetect never unpickles weights, "
            "convert it with safetensors.torch.save_file on a trusted machine"
        )
    try:
        return load(data)
    except (SafetensorError, Exception) as exc:  # safetensors raises several types on bad headers
        raise CorruptFileError(f"{path} is not a valid safetensors file ({exc.__class__.__name__}); it is truncated or damaged, copy it again") from None


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from safetensors, or from a ``torch.save`` file through the tensors-only loader.

    ``torch.load(weights_only=True)`` refuses any object but tensors and plain
    containers, so no code in the file can run.
    """
    path = Path(path)
    head = path.read_bytes()[:4]
    if head[:1] == bytes([_PICKLE_PROTOCOL_BYTE]) or head == _ZIP_MAGIC:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise UnsafeFileError(f"{path} holds objects other than tensors ({exc.__class__.__name__}); refused, it may run code when loaded") from None
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
        if not isinstance(state, dict):
            raise CorruptFileError(f"{path} does not hold a state dict")
        return state
    return read_safetensors(path)
