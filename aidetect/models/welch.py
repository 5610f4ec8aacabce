"""The Welch spectrum: the 2-D power spectrum of an image's high-pass residual, read through a
projection fitted on the training split. A spectrum part for fusion (``--spectrum welch``).

Feature of an image [3, H, W] in [0, 1]:
  1. the grey high-pass residual of the spectrum yardstick (aidetect.models.spectrum, steps 1-2);
  2. cut into non-overlapping ``WELCH_TILE``-px tiles (the largest centred block of whole tiles),
     each with its mean removed and a 2-D Hann window;
  3. the power of each tile's 2-D Fourier transform, averaged over the tiles (Welch's method: the
     image content differs from tile to tile, a generator's periodic trace does not), then its log:
     ``WELCH_TILE × (WELCH_TILE / 2 + 1)`` numbers (2,112), the half-plane of a real signal;
  4. the fitted map of aidetect.models.readout (:func:`fit_whitened_projection`): standardised,
     projected onto the first D principal axes, whitened within class, on the training split's
     images after the recipe's augmentation.

Why not the yardstick's radial average: a latent-diffusion decoder grows each 8×8 cell of pixels
from one latent vector, so its trace sits at *points* of the plane, k/8 cycles per pixel on the
axes, which a ring average over all directions dilutes into the image content (on zoo v2 the rings
separate the five latent decoders from photographs at AUC 42-58, single axis peaks at 67-81:
benchmarks/zoo/latent_grid.py). The 2-D spectrum keeps every point; 64-px tiles put k/8 on exact
bins (8k), and the fitted map learns which points matter and that JPEG's own 8×8 blocks, which sit
on the same frequencies, are spread within a class. Power spectra ignore where a crop starts, so no
grid alignment is needed. Measured: docs/zoo-benchmark.md, "The 2-D Welch spectrum".
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

from aidetect.config import WELCH_TILE
from aidetect.devices import full_precision
from aidetect.errors import AidetectError
from aidetect.models.readout import WCCN_SHRINKAGE, fit_whitened_projection
from aidetect.models.spectrum import _gaussian_kernel, grey_residual


def welch_bins(tile: int = WELCH_TILE) -> int:
    """Values of the raw Welch feature: the rfft2 half-plane of one tile."""
    return tile * (tile // 2 + 1)


class WelchPowerSpectrum(nn.Module):
    """Steps 1-3: images [N, 3, H, W] in [0, 1], H and W at least ``tile`` → the log Welch power
    spectrum [N, welch_bins(tile)], in float32 whatever the autocast. No parameters and no
    statistics: the input of the fitted map below and of the learned ``welch-mlp`` encoder."""

    def __init__(self, tile: int = WELCH_TILE) -> None:
        super().__init__()
        self.tile = tile
        self.register_buffer("kernel", _gaussian_kernel(), persistent=False)
        window = torch.hann_window(tile, periodic=False)
        self.register_buffer("window", window[:, None] * window[None, :], persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        with full_precision(images):
            return self._log_power(images)

    def _log_power(self, images: torch.Tensor) -> torch.Tensor:
        residual = grey_residual(images, self.kernel)
        n, h, w = residual.shape
        t = self.tile
        if h < t or w < t:
            raise AidetectError(f"the Welch spectrum reads {t}-px tiles and got a {w}×{h} input; "
                                f"train with --image-size {t} or more (and --train-image-size, if given)")
        top, left = (h - h // t * t) // 2, (w - w // t * t) // 2
        block = residual[:, top : top + h // t * t, left : left + w // t * t]
        tiles = block.unfold(1, t, t).unfold(2, t, t).reshape(n, -1, t, t)
        tiles = tiles - tiles.mean(dim=(-2, -1), keepdim=True)
        power = torch.fft.rfft2(tiles * self.window.to(tiles.device)).abs().square().mean(dim=1)
        return torch.log(power + 1e-10).flatten(1)


class WelchSpectrumFeatures(nn.Module):
    """Images [N, 3, H, W] in [0, 1], H and W at least ``WELCH_TILE`` → fitted reading [N, dim]
    (not normalised; the Encoder's fusion does that)."""

    needs_labels = True  # the trainer fits it from (images, labels), like the stage readout

    def __init__(self, dim: int, tile: int = WELCH_TILE) -> None:
        super().__init__()
        self.tile, self.dim = tile, dim
        self.power = WelchPowerSpectrum(tile)
        self.register_buffer("mean", torch.zeros(welch_bins(tile)))
        self.register_buffer("projection", torch.zeros(welch_bins(tile), dim))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    def raw(self, images: torch.Tensor) -> torch.Tensor:
        """Steps 1-3: the log Welch power spectrum [N, welch_bins(tile)], in float32 whatever the autocast."""
        return self.power(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if not bool(self.fitted):
            raise AidetectError("the Welch spectrum has no statistics yet; `aidetect train` fits them on the training split")
        with full_precision(images):  # the map too: a bf16 matmul would round away what it fitted
            return (self.raw(images) - self.mean) @ self.projection

    @torch.no_grad()
    def fit(self, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], shrinkage: float = WCCN_SHRINKAGE) -> int:
        """Step 4 from ``(images, labels)`` batches of the training split; returns the images seen."""
        mean, projection, total = fit_whitened_projection(
            ((self.raw(images), labels) for images, labels in batches),
            [welch_bins(self.tile)], self.dim, shrinkage, "the Welch spectrum")
        self.mean.copy_(mean)
        self.projection.copy_(projection)
        self.fitted.fill_(True)
        return total
