"""Co-occurrences of quantised pixel residuals: a second input beside the Welch spectrum (the
``welch-cooc-mlp`` encoder, aidetect.models.encoder; the probes of benchmarks/zoo).

The Welch feature (aidetect.models.welch) is the power spectrum of the *grey* residual: a
second-order statistic of one channel. Two kinds of trace it cannot see by construction:

* **higher-order dependencies between neighbouring residuals** (how a generator's last layers
  round, clip and interpolate): steganalysis reads them as co-occurrences of quantised residuals
  (SPAM, Pevný, Bas and Fridrich, 2010), and co-occurrence matrices detect GAN images (Nataraj
  et al., 2019);
* **dependencies between the colour channels**: a camera interpolates two of every three colour
  values from its Bayer mosaic, so a photograph's residuals are correlated across channels in a
  way a generator's need not be; the grey residual averages that away.

:class:`ResidualCooccurrence` maps images [N, 3, H, W] in [0, 1] to four normalised histograms of
125 bins each (residuals on the 8-bit scale, divided by ``step``, rounded, clipped to ±2):

1. first-order residuals (x[i+1] − x[i]) of each channel, three consecutive along the residual's
   own direction, horizontal and vertical pooled, channels pooled;
2. the same for second-order residuals (x[i−1] − 2 x[i] + x[i+1], step 2);
3. the first-order residuals of R, G and B *at the same pixel*, horizontal and vertical pooled:
   the cross-channel trace;
4. first-order residuals of the chroma differences R − G and B − G, three consecutive, both
   differences and directions pooled.

Returned as log(p + 1e-5), 500 numbers; no parameters, no statistics.
"""

from __future__ import annotations

import torch
from torch import nn

from aidetect.devices import full_precision

TRUNCATION = 2
LEVELS = 2 * TRUNCATION + 1
BINS = LEVELS ** 3
PARTS = 4
#: Width of the feature: four histograms.
FEATURES = PARTS * BINS


#: Images read at a time on a CPU: the residual tensors of a few 256-px images stay in cache, so a
#: batch of hundreds is read in chunks (about twice as fast per image as one pass over 64 at once,
#: one thread). A GPU reads the batch in one pass.
CHUNK = 8


# The arithmetic runs on float32 (exact for these small integers) and the histograms count int32
# indices: int64 tensors made it twice as slow, with the same result bit for bit
# (tests/test_cooccurrence.py compares it with a plain int64 reading).
def quantise(residual: torch.Tensor, step: float) -> torch.Tensor:
    """Residual on the 8-bit scale → levels 0..LEVELS-1 as float32 (value / step, rounded, clipped
    to ±T, shifted). ``residual`` is a fresh tensor and is overwritten."""
    if step != 1.0:  # integer residuals need no rounding at step 1
        residual = residual.div_(step).round_()
    return residual.clamp_(-TRUNCATION, TRUNCATION).add_(TRUNCATION)


def difference(x: torch.Tensor, order: int, dim: int) -> torch.Tensor:
    """First- or second-order finite difference of ``x`` along ``dim``."""
    n = x.shape[dim]
    if order == 1:
        return x.narrow(dim, 1, n - 1) - x.narrow(dim, 0, n - 1)
    return x.narrow(dim, 0, n - 2) - 2 * x.narrow(dim, 1, n - 2) + x.narrow(dim, 2, n - 2)


def triples(q: torch.Tensor, dim: int) -> torch.Tensor:
    """Bin index of every three consecutive levels along ``dim`` (float32, one per position)."""
    n = q.shape[dim]
    a, b, c = q.narrow(dim, 0, n - 2), q.narrow(dim, 1, n - 2), q.narrow(dim, 2, n - 2)
    return (a * (LEVELS * LEVELS)).add_(b, alpha=LEVELS).add_(c)


def count(index: torch.Tensor, size: int, *, scatter: bool | None = None) -> torch.Tensor:
    """Occurrences of each value 0..size-1 in the flat integer ``index`` (int64 counts [size]). A CPU
    counts int32 with bincount (the fastest measured); a GPU adds ones with scatter_add, which
    needs no host round trip (CUDA's bincount reads the index's range back first). ``scatter``
    forces the choice (None: by the index's device)."""
    if scatter is None:
        scatter = index.device.type != "cpu"
    if not scatter:
        return torch.bincount(index, minlength=size)
    counts = torch.zeros(size, dtype=torch.int64, device=index.device)
    return counts.scatter_add_(0, index.long(), torch.ones_like(index, dtype=torch.int64))


def histogram(indices: list[torch.Tensor]) -> torch.Tensor:
    """Per-image normalised histogram over BINS of the bin indices [N, ...] of every part, pooled."""
    n = indices[0].shape[0]
    offset = (torch.arange(n, dtype=torch.int32, device=indices[0].device) * BINS).unsqueeze(1)
    counts = sum(count(index.reshape(n, -1).to(torch.int32).add_(offset).flatten(), n * BINS) for index in indices)
    counts = counts.view(n, BINS).float()
    return counts / counts.sum(dim=1, keepdim=True)


class ResidualCooccurrence(nn.Module):
    """Images [N, 3, H, W] in [0, 1] → [N, 4 × 125] log co-occurrence histograms (module docstring)."""

    feature = "cooc"  # the probes' cache key prefix

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        with full_precision(images):  # counts of 8-bit levels: no bf16 under autocast
            if images.device.type != "cpu":
                return self._read(images)
            return torch.cat([self._read(chunk) for chunk in images.split(CHUNK)])

    @staticmethod
    def _read(images: torch.Tensor) -> torch.Tensor:
        levels = images.float().clamp(0, 1).mul(255).round()
        horizontal, vertical = 3, 2
        first = {d: quantise(difference(levels, 1, d), 1.0) for d in (horizontal, vertical)}  # parts 1 and 3 read them
        parts = [histogram([triples(q, d) for d, q in first.items()]),
                 histogram([triples(quantise(difference(levels, 2, d), 2.0), d) for d in (horizontal, vertical)]),
                 histogram([(q[:, 0] * (LEVELS * LEVELS)).add_(q[:, 1], alpha=LEVELS).add_(q[:, 2]) for q in first.values()])]
        chroma = torch.stack([levels[:, 0] - levels[:, 1], levels[:, 2] - levels[:, 1]], dim=1)
        parts.append(histogram([triples(quantise(difference(chroma, 1, d), 1.0), d) for d in (horizontal, vertical)]))
        return torch.log(torch.cat(parts, dim=1) + 1e-5)
