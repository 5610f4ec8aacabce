"""The fused embedding: a learned embedding and the spectrum yardstick side by side.

Layout of a fused embedding (``ArchitectureConfig.spectrum_weight`` = w > 0), [N, D + 128]::

    [ √(1 − w) · learned / ‖learned‖  |  √w · spectrum / ‖spectrum‖ ]
      columns 0 … D − 1                  columns D … D + 127 (SPECTRUM_BINS)

Both parts are unit vectors, so the whole is one too, and the cosine similarity of two
fused embeddings is (1 − w)·cos(learned) + w·cos(spectrum). Galleries store this layout as
is; because each part can be rescaled exactly, a different w can be tried on stored
embeddings without embedding anything again (:func:`reweigh_fused`, used by calibration).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def fuse(learned: torch.Tensor, spectrum: torch.Tensor, weight: float) -> torch.Tensor:
    """[N, D] and [N, B] (any norm) → the fused [N, D + B] unit embeddings of the layout above."""
    return torch.cat([F.normalize(learned, dim=1) * math.sqrt(1 - weight), F.normalize(spectrum, dim=1) * math.sqrt(weight)], dim=1)


def reweigh_fused(embeddings: np.ndarray, learned_dim: int, weight: float, new_weight: float) -> np.ndarray:
    """Fused embeddings made with spectrum weight ``weight``, as weight ``new_weight`` would have
    made them: each part is rescaled, nothing is embedded again."""
    out = np.array(embeddings, dtype=np.float32, copy=True)
    out[:, :learned_dim] *= np.sqrt((1 - new_weight) / (1 - weight))
    out[:, learned_dim:] *= np.sqrt(new_weight / weight)
    return out
