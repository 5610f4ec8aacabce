"""The self-describing model directory: ``config.json`` + ``model.safetensors`` + ``gallery.npz``.

The fingerprint of a model is the SHA-256 of its weights file (first 16 hex
digits). It is written into the config and checked on every load, so edited or
swapped weights are caught, and galleries record it to refuse mixing models.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from aidetect.config import GALLERY_FILE, WEIGHTS_FILE, WELCH_ENCODERS, ModelConfig
from aidetect.errors import CorruptFileError
from aidetect.fileio import atomic_write_bytes, sha256_bytes
from aidetect.models.encoder import Encoder
from aidetect.models.weights import read_safetensors, tensors_to_bytes


@dataclass
class LoadedModel:
    encoder: Encoder
    config: ModelConfig
    folder: Path

    @property
    def fingerprint(self) -> str:
        return self.config.fingerprint

    @property
    def gallery_path(self) -> Path:
        return self.folder / GALLERY_FILE


def fingerprint_of(weight_bytes: bytes) -> str:
    return sha256_bytes(weight_bytes)[:16]


#: Tensors kept in float32 when a model is saved in float16: a fitted readout's mean is subtracted
#: from pooled features before a projection that can scale a feature's deviation by 100 or more,
#: so float16's rounding of a mean (one part in 2,000) would move every embedding by the same
#: visible offset; a fused spectrum's statistics likewise (the Welch spectrum's are the same kind of
#: map, aidetect.models.welch). They are small (4,048 + 4,048 × 128 and 2,112 + 2,112 × 128 numbers).
FULL_PRECISION = ("readout.", "spectrum.")
#: The same for one architecture: the welch-mlp encoders' input standardisation (``trunk.1.``, the
#: running mean and variance of 2,112 log-powers, and of 500 log-frequencies beside them in the
#: welch-cooc-mlp: the same kind of statistic).
FULL_PRECISION_OF_ARCH = {name: ("trunk.1.",) for name in WELCH_ENCODERS}


def save_model(folder: str | Path, encoder: Encoder, config: ModelConfig, *, half: bool = False) -> str:
    """Write weights then config (each atomically); returns the fingerprint."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = encoder.state_dict()
    if half:
        kept = FULL_PRECISION + FULL_PRECISION_OF_ARCH.get(encoder.arch.name, ())
        state = {k: (v.half() if v.is_floating_point() and not k.startswith(kept) else v) for k, v in state.items()}
    data = tensors_to_bytes(state)
    config.fingerprint = fingerprint_of(data)
    atomic_write_bytes(folder / WEIGHTS_FILE, data)
    config.save(folder)
    return config.fingerprint


def build_encoder(config: ModelConfig) -> Encoder:
    return Encoder(config.architecture)


def load_model(folder: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild the encoder a model directory describes and load its weights, in eval mode."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CorruptFileError(f"{folder} is not a model directory; pass --model DIR made by `aidetect train`")
    config = ModelConfig.load(folder)
    weights_path = folder / WEIGHTS_FILE
    state = read_safetensors(weights_path)
    actual = fingerprint_of(weights_path.read_bytes())
    if config.fingerprint and actual != config.fingerprint:
        raise CorruptFileError(
            f"{weights_path} has fingerprint {actual} but config.json says {config.fingerprint}; "
            "the weights were changed or swapped, copy the model directory again"
        )
    config.fingerprint = actual
    encoder = build_encoder(config)
    expected = encoder.state_dict()
    bad = [k for k in expected if k not in state or tuple(state[k].shape) != tuple(expected[k].shape)]
    extra = [k for k in state if k not in expected]
    if bad or extra:
        first = (bad or extra)[0]
        raise CorruptFileError(
            f"{weights_path} does not match the architecture in config.json "
            f"({len(bad)} missing or mis-shaped tensors, {len(extra)} unexpected, e.g. {first!r})"
        )
    encoder.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    encoder.to(device).eval()
    return LoadedModel(encoder, config, folder)


MODEL_CARD_FILE = "MODEL_CARD.md"
_SCOPE_PREFIX = "**Scope:**"


def scope_line(folder: str | Path, config: ModelConfig) -> str:
    """The model's scope in one line, for every output: the card's ``**Scope:**`` line, or one
    made from config.json (the classes it was trained on and that nothing else is known)."""
    card = Path(folder) / MODEL_CARD_FILE
    try:
        for line in card.read_text(encoding="utf-8").splitlines():
            if line.startswith(_SCOPE_PREFIX):
                return line[len(_SCOPE_PREFIX):].strip()
    except (OSError, UnicodeDecodeError):
        pass
    trained = ", ".join(config.trained_classes) or "unrecorded classes"
    return (f"trained on {trained}; verdicts on images of generators outside its gallery "
            "(e.g. diffusion models it has not seen) have not been measured")
