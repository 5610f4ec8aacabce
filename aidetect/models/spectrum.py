"""The spectrum yardstick: a fixed, explainable up-sampling fingerprint (Durall et al., 2020).

Feature of an image [3, S, S] in [0, 1]:
  1. grey level (ITU-R 601 weights);
  2. high-pass residual: grey minus its Gaussian blur (σ = 1 px), which removes
     most image content and keeps the pixel-level traces generators leave;
  3. log amplitude of its 2-D Fourier transform (after a Hann window, so the
     borders of the image do not leak into every frequency);
  4. azimuthal average: the mean over rings of equal spatial frequency, from 0
     to the corner frequency, in ``n_bins`` rings (1-D, rotation-invariant).
The result is standardised with mean and standard deviation over the training
split (stored as buffers in the weights file) and, like every aidetect
embedding, L2-normalised by the Encoder. Up-sampling layers leave periodic
peaks at fractions of the sampling rate (½, ¼ for ×2, ×4), which show up as
bumps at fixed bins.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from aidetect.devices import full_precision

_GREY = (0.299, 0.587, 0.114)


def _gaussian_kernel(sigma: float = 1.0, radius: int = 3) -> torch.Tensor:
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def frequency_radius(height: int, width: int) -> torch.Tensor:
    """[H, W] spatial frequency (cycles per pixel) of each point of the fftshift-ed spectrum."""
    fy = torch.fft.fftshift(torch.fft.fftfreq(height))
    fx = torch.fft.fftshift(torch.fft.fftfreq(width))
    return torch.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)


def radial_bin_matrix(height: int, width: int, n_bins: int) -> torch.Tensor:
    """[H*W, n_bins] averaging matrix: column b averages the (shifted) spectrum over ring b."""
    radius = frequency_radius(height, width)
    bins = torch.clamp((radius / radius.max() * n_bins).long(), max=n_bins - 1).flatten()
    matrix = torch.zeros(height * width, n_bins)
    matrix[torch.arange(height * width), bins] = 1.0
    counts = matrix.sum(dim=0).clamp_min(1.0)
    return matrix / counts


def grey_residual(images: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Steps 1-2 of the module docstring: [N, 3, H, W] → [N, H, W], grey minus its Gaussian blur
    (``kernel``: :func:`_gaussian_kernel`), in float32. Call it with autocast off (see
    :func:`full_precision`): under bf16 autocast the blur moves a log spectrum by as much as two
    images differ."""
    images = images.float()
    weights = torch.tensor(_GREY, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
    grey = (images * weights).sum(dim=1, keepdim=True)
    pad = kernel.shape[-1] // 2
    blurred = F.conv2d(F.pad(grey, (pad, pad, pad, pad), mode="reflect"), kernel.to(images.device))
    return (grey - blurred)[:, 0]


class SpectrumFeatures(nn.Module):
    """Images [N, 3, H, W] in [0, 1] → standardised radial spectrum [N, n_bins]."""

    def __init__(self, n_bins: int = 128) -> None:
        super().__init__()
        self.n_bins = n_bins
        self.register_buffer("kernel", _gaussian_kernel(), persistent=False)
        self.register_buffer("mean", torch.zeros(n_bins))
        self.register_buffer("std", torch.ones(n_bins))
        self._bins: dict[tuple[int, int, str], torch.Tensor] = {}

    def raw(self, images: torch.Tensor) -> torch.Tensor:
        """The radial log-amplitude spectrum before standardisation [N, n_bins]."""
        with full_precision(images):
            return self._raw(images)

    def _raw(self, images: torch.Tensor) -> torch.Tensor:
        residual = grey_residual(images, self.kernel)
        h, w = residual.shape[-2:]
        # A Hann window: the FFT treats the image as periodic, and the jump between
        # opposite borders would otherwise add a bright cross along both axes.
        window = torch.hann_window(h, periodic=False, device=images.device)[:, None] * torch.hann_window(w, periodic=False, device=images.device)[None, :]
        residual = residual * window
        amplitude = torch.fft.fftshift(torch.fft.fft2(residual).abs(), dim=(-2, -1))
        log_amplitude = torch.log(amplitude + 1e-8)
        key = (h, w, str(images.device))
        if key not in self._bins:
            self._bins[key] = radial_bin_matrix(h, w, self.n_bins).to(images.device)
        return log_amplitude.flatten(1) @ self._bins[key]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return (self.raw(images) - self.mean) / self.std

    @torch.no_grad()
    def fit(self, batches) -> int:
        """Set mean/std from an iterable of image batches (the training split); returns images seen."""
        total, sum_, sum_sq = 0, torch.zeros(self.n_bins, dtype=torch.float64), torch.zeros(self.n_bins, dtype=torch.float64)
        for images in batches:
            feats = self.raw(images).double().cpu()
            total += len(feats)
            sum_ += feats.sum(0)
            sum_sq += (feats**2).sum(0)
        if total == 0:
            return 0
        mean = sum_ / total
        var = (sum_sq / total - mean**2).clamp_min(1e-12)
        self.mean.copy_(mean.float())
        self.std.copy_(var.sqrt().float().clamp_min(1e-6))
        return total


def expected_bin(frequency_y: float, frequency_x: float, height: int, width: int, n_bins: int) -> int:
    """The bin a pure frequency (cycles per pixel) falls in, by the rule of :func:`radial_bin_matrix`."""
    rmax = float(frequency_radius(height, width).max())
    radius = math.sqrt(frequency_y**2 + frequency_x**2)
    return min(int(radius / rmax * n_bins), n_bins - 1)
