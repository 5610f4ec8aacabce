"""Initial weights for a new encoder: random, torchvision's ImageNet file from the local cache,
a local weights file, or another aidetect model directory (never a download)."""

from __future__ import annotations

from pathlib import Path

import torch

from aidetect.errors import AidetectError
from aidetect.models.encoder import WIDENING_FRONT_ENDS, Encoder
from aidetect.models.model_dir import load_model
from aidetect.models.weights import read_state_dict


def _imagenet_weights_file() -> Path:
    from torchvision.models import EfficientNet_B0_Weights  # torchvision.models loads slowly; only --init imagenet needs it

    url = EfficientNet_B0_Weights.IMAGENET1K_V1.url
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def load_initial_weights(encoder: Encoder, init: str) -> str:
    """Initialise the trunk: ``random`` (nothing to do), ``imagenet`` or a local file.

    ``imagenet`` reads torchvision's EfficientNet-B0 weights from the local torch
    cache only (no download); a path may hold a torchvision EfficientNet-B0
    state dict (safetensors, or a tensors-only ``torch.save`` file), or be an
    aidetect model directory with the same trunk and head (to fine-tune it, or
    to fuse it with the spectrum feature).
    Returns a description for the model card.
    """
    if init == "random":
        return "random"
    if Path(init).is_dir():
        return _load_aidetect_model(encoder, Path(init))
    if encoder.arch.name != "efficientnet_b0":
        raise AidetectError(f"--init {init} applies to efficientnet_b0, not {encoder.arch.name}")
    if init == "imagenet":
        path = _imagenet_weights_file()
        if not path.is_file():
            raise AidetectError(
                f"ImageNet weights are not in the local torch cache ({path}); on a machine with internet run "
                "`python -c \"import torchvision; torchvision.models.efficientnet_b0(weights='IMAGENET1K_V1')\"` "
                "and copy that file here, or pass --init PATH"
            )
    else:
        path = Path(init)
        if not path.is_file():
            raise AidetectError(f"--init {init}: no such file; give 'random', 'imagenet' or a weights file")
    state = read_state_dict(path)
    # torchvision keys are features.N...; our trunk is Sequential(features, avgpool, flatten).
    trunk_state = {("0." + k[len("features."):]): v for k, v in state.items() if k.startswith("features.")}
    if not trunk_state:
        raise AidetectError(f"{path} holds no EfficientNet-B0 'features.*' weights; give a torchvision efficientnet_b0 state dict")
    # a front-end wider than RGB (npr-latent) reads the file's 3-channel stem on its first channels
    trunk_state = _widened_input(trunk_state, encoder.trunk.state_dict())
    missing, unexpected = encoder.trunk.load_state_dict(trunk_state, strict=False)
    if unexpected or [k for k in missing if not k.endswith("num_batches_tracked")]:
        raise AidetectError(f"{path} does not fit EfficientNet-B0 ({len(missing)} missing, {len(unexpected)} unexpected tensors)")
    return f"{init} ({path.name})"


def _load_aidetect_model(encoder: Encoder, folder: Path) -> str:
    """Trunk and projection head from an aidetect model directory; the spectrum part and a fitted
    readout, if any, are left to be fitted on this run's training split."""
    source = load_model(folder)
    mine, theirs = encoder.arch, source.config.architecture
    widened = (theirs.front_end, mine.front_end) in WIDENING_FRONT_ENDS
    same = ("name", "front_end", "stem_stride", "embedding_dim", "projection_hidden")
    differing = [k for k in same if getattr(mine, k) != getattr(theirs, k) and not (k == "front_end" and widened)]
    if differing:
        raise AidetectError(
            f"--init {folder}: its {', '.join(differing)} differ from this run's; train with the options in its config.json"
        )
    fitted_per_run = ("spectrum.", "readout.")
    state = {k: v for k, v in source.encoder.state_dict().items() if not k.startswith(fitted_per_run)}
    if widened:
        state = _widened_input(state, encoder.state_dict())
    missing, _ = encoder.load_state_dict(state, strict=False)
    if [k for k in missing if not k.startswith(fitted_per_run)]:
        raise AidetectError(f"--init {folder}: its weights do not fit this encoder ({len(missing)} tensors missing)")
    widening = f", its {theirs.front_end} input widened to {mine.front_end}" if widened else ""
    return f"aidetect model {source.config.fingerprint} ({folder}{widening})"


def _widened_input(theirs: dict, mine: dict) -> dict:
    """``theirs`` with the first layer's weights padded by zeros to read ``mine``'s further input
    channels: the front-end's first channels are the old front-end's output, so the network computes
    the same function at step 0 and training decides what the new channels are worth."""
    widened = dict(theirs)
    for key, weight in theirs.items():
        target = mine.get(key)
        if (target is not None and weight.ndim == 4 and target.ndim == 4 and weight.shape[0] == target.shape[0]
                and weight.shape[2:] == target.shape[2:] and weight.shape[1] < target.shape[1]):
            padded = weight.new_zeros(target.shape)
            padded[:, : weight.shape[1]] = weight
            widened[key] = padded
    return widened
