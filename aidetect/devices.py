"""Choosing the device and the numeric settings that go with it."""

from __future__ import annotations

import torch

from aidetect.errors import AidetectError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` → CUDA when there is one, else CPU; ``cuda`` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise AidetectError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu or auto")
    if name not in ("cpu",) and not name.startswith("cuda"):
        raise AidetectError(f"unknown device {name!r}; choose auto, cpu or cuda")
    return torch.device(name)


def autocast(device: torch.device, enabled: bool = True):
    """bf16 autocast on CUDA (no loss scaling needed); a no-op context on CPU."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled and device.type == "cuda")


def full_precision(tensor: torch.Tensor):
    """A context with autocast off on ``tensor``'s device, for statistics fitted in float32 or float64
    (a spectrum, a fitted projection): embedding runs under bf16 autocast on CUDA, and a bf16
    matmul rounds away what such a fit found."""
    return torch.autocast(tensor.device.type, enabled=False)


def to_model_input(images: torch.Tensor, device: torch.device, *, channels_last: bool = True) -> torch.Tensor:
    """A collated batch on ``device`` as the encoder takes it: float32 in [0, 1], channels-last
    for 4-D batches. uint8 batches (the training loader's) are moved first and scaled there,
    the same numbers as scaling on the CPU (x / 255 in float32 either way)."""
    images = images.to(device, non_blocking=True)
    if images.dtype == torch.uint8:
        images = images.float().div_(255.0)
    if channels_last and images.ndim == 4:
        images = images.contiguous(memory_format=torch.channels_last)
    return images
