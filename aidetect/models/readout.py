"""The fitted readouts: an embedding read from inside the encoder with training-split statistics,
not from the projection head's output. ``stages``: the trunk's middle and late stages, pooled;
``hidden``: the projection head's hidden layer (its input to the last linear layer), for heads
that have one (the ``welch-mlp``'s; a CNN's with ``projection_hidden`` > 0).

Why (docs/zoo-benchmark.md, "Where in the encoder the attribution is"): a projection head
trained with SupCon on a dozen generators keeps what separates those generators and drops the
rest; on generators the encoder never saw, the pooled outputs of the trunk's stages attribute
17 points better than the head's output. The readout turns those stages into a compact embedding
with statistics of the training split only, so no test generator shapes it:

1. each readout stage's output [N, C, H, W] is pooled over space by mean and by standard
   deviation: 2·C numbers (4,048 for EfficientNet-B0's stages 3-8), the "pooled features";
2. each pooled feature is standardised with its training-split mean and spread, and each block
   (one stage's means, or its spreads) is scaled by 1/√C, so every block weighs the same whatever
   its width;
3. the result is projected onto its first D principal axes (D = ``embedding_dim``), which keeps
   the k-NN's accuracy within a point of the whole 4,048 and makes a gallery row as small as the
   head's;
4. within-class whitening (WCCN, as in speaker verification, where a new speaker is enrolled from
   a few recordings exactly as a new generator is here): the D axes are rescaled so that the
   spread of images *within* a training class (image content, compression) is the same in every
   direction; what is left to separate images is what differs between sources. The within-class
   covariance is shrunk towards its mean eigenvalue (``WCCN_SHRINKAGE``) so directions a dozen
   classes hardly sample are not blown up.

Steps 2-4 are one affine map, ``(pooled − mean) @ projection``, stored as two buffers in the
weights file; the Encoder L2-normalises the result like every embedding. :meth:`StageReadout.fit`
computes them in one pass over the training split (sums and per-class sums of the pooled
features, in float64).

The ``hidden`` readout is the same map over one block, the hidden layer's activations (no pooling:
they are a vector already). Why: SimCLR and SupCon train through a projection head and then read
the layer *before* it, which keeps information the loss's last layer discards; measured for the
welch-mlp in docs/zoo-benchmark.md ("The hidden layer, not the head's output").
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

from aidetect.devices import full_precision
from aidetect.errors import AidetectError

#: Which of a trunk's layers the readout pools, by architecture name: indices into
#: :func:`stage_layers`. EfficientNet-B0: stages 3-5 and 6-7 (MBConv, 40-320 channels) and 8 (the
#: final 1x1 convolution, whose mean is what the head reads). Stages 0-2 attribute 20-30 points
#: worse (docs/zoo-benchmark.md). The tests' `tiny` trunk: the output of each of its three blocks.
READOUT_STAGES: dict[str, tuple[int, ...]] = {"efficientnet_b0": (3, 4, 5, 6, 7, 8), "tiny": (2, 5, 8)}
#: Shrinkage of the within-class covariance towards (its mean eigenvalue) × identity.
WCCN_SHRINKAGE = 0.1


def stage_layers(trunk: nn.Module) -> nn.Sequential:
    """The layers whose outputs are stages: EfficientNet's ``features`` (the trunk is
    Sequential(features, pool, flatten)), or a plain CNN trunk's own layers."""
    first = next(iter(trunk.children()), None)
    return first if isinstance(first, nn.Sequential) else trunk


def run_stages(layers: nn.Sequential, images: torch.Tensor, keep: Iterable[int]) -> list[torch.Tensor]:
    """The outputs of ``layers[i]`` for each i in ``keep``, running the layers only as far as needed."""
    keep = sorted(set(keep))
    outputs, x = [], images
    for index, layer in enumerate(layers):
        if index > keep[-1]:
            break
        x = layer(x)
        if index in keep:
            outputs.append(x)
    return outputs


def pool_stage(output: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] → [N, 2C]: the per-channel mean, then the per-channel standard deviation, over space."""
    x = output.float()  # bf16 under autocast: pool in float32
    return torch.cat([x.mean((2, 3)), x.std((2, 3), correction=0)], dim=1)


def block_widths(channels: Iterable[int]) -> list[int]:
    """Widths of the pooled blocks (each stage's means, then its spreads) in pooled-feature order."""
    return [c for channels_of_stage in channels for c in (channels_of_stage, channels_of_stage)]


class FittedReadout(nn.Module):
    """Features [N, F] made of blocks of ``widths`` → readout [N, D] (not normalised; the Encoder does
    that), through the map of steps 2-4 fitted by :meth:`fit`."""

    what = "the readout"  # names it in errors
    spread_floor = 0.0  # see fit_whitened_projection

    def __init__(self, widths: list[int], dim: int) -> None:
        super().__init__()
        self.widths = list(widths)
        features = sum(self.widths)
        if dim > features:
            raise AidetectError(f"{self.what} of {dim} values needs at least as many features; it has {features}")
        self.dim = dim
        self.register_buffer("mean", torch.zeros(features))
        self.register_buffer("projection", torch.zeros(features, dim))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    @property
    def features(self) -> int:
        return self.mean.numel()

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if not bool(self.fitted):
            raise AidetectError(f"{self.what} has no statistics yet; `aidetect train` fits them on the training split")
        with full_precision(features):  # fitted in float64: a bf16 matmul under CUDA autocast would round it away
            return (features.float() - self.mean) @ self.projection

    @torch.no_grad()
    def fit(self, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], shrinkage: float = WCCN_SHRINKAGE) -> int:
        """Fit mean and projection from ``(features [N, F], labels [N])`` batches of the training split;
        returns the number of images seen. Needs at least two classes."""
        mean, projection, total = fit_whitened_projection(batches, self.widths, self.dim, shrinkage, self.what,
                                                          self.spread_floor)
        self.mean.copy_(mean)
        self.projection.copy_(projection)
        self.fitted.fill_(True)
        return total


class StageReadout(FittedReadout):
    """Pooled stage features [N, F] (each stage's means, then its spreads) → readout [N, D]."""

    what = "the stage readout"

    def __init__(self, stage_channels: list[int], dim: int) -> None:
        super().__init__(block_widths(stage_channels), dim)


class HiddenReadout(FittedReadout):
    """The projection head's hidden layer [N, H] → readout [N, D]: one block of H features."""

    what = "the hidden-layer readout"
    # A ReLU head (the CNNs') has units that fire on a handful of images; standardised by their tiny
    # spread they would weigh 100-1000 times the others and let one unusual query's firing decide its
    # embedding. The welch-mlp's GELU units all spread at least half the median (measured): no change there.
    spread_floor = 0.01

    def __init__(self, hidden: int, dim: int) -> None:
        super().__init__([hidden], dim)


@torch.no_grad()
def fit_whitened_projection(batches: Iterable[tuple[torch.Tensor, torch.Tensor]], widths: list[int], dim: int,
                            shrinkage: float, what: str, spread_floor: float = 0.0) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Steps 2-4 of the module docstring for features [N, F] made of blocks of ``widths``, from
    ``(features, labels)`` batches (one pass, sums in float64): returns (mean [F], projection [F, dim],
    images seen), so that ``(x - mean) @ projection`` is the standardised, block-weighted, PCA-reduced
    and within-class-whitened reading of x. ``what`` names the feature in the error for too little data.
    ``spread_floor``: no feature is standardised by less than this fraction of the median spread.
    Shared by the fitted readouts and the Welch spectrum (aidetect.models.welch)."""
    f = sum(widths)
    total, sum_ = 0, torch.zeros(f, dtype=torch.float64)
    second = torch.zeros(f, f, dtype=torch.float64)
    class_sums: dict[int, torch.Tensor] = {}
    class_counts: dict[int, int] = {}
    for features, labels in batches:
        x, labels = features.double().cpu(), labels.cpu()
        total += len(x)
        sum_ += x.sum(0)
        second += x.T @ x
        for label in labels.unique().tolist():
            rows = x[labels == label]
            class_sums[label] = class_sums.get(label, torch.zeros(f, dtype=torch.float64)) + rows.sum(0)
            class_counts[label] = class_counts.get(label, 0) + len(rows)
    if len(class_counts) < 2 or total <= dim:
        raise AidetectError(
            f"{what} needs images of at least two classes and more than {dim} images to fit; "
            f"it got {total} of {len(class_counts)} class(es)"
        )
    mean = sum_ / total
    covariance = second / total - torch.outer(mean, mean)
    # Steps 2 and 3: standardise and weigh each block, then PCA.
    spread = covariance.diagonal().clamp_min(1e-12).sqrt()
    if spread_floor > 0:
        spread = spread.clamp_min(spread_floor * spread.median())
    block = torch.cat([torch.full((w,), w ** -0.5, dtype=torch.float64) for w in widths])
    scale = block / spread

    def standardised(matrix: torch.Tensor) -> torch.Tensor:  # a covariance of x, as one of x · scale
        return matrix * scale[:, None] * scale[None, :]

    values, vectors = torch.linalg.eigh(standardised(covariance))
    axes = vectors[:, values.argsort(descending=True)[:dim]]
    # Step 4: the within-class covariance, Σ_c (S_c − n_c μ_c μ_cᵀ) / N with Σ_c S_c = the second moment.
    between = sum(torch.outer(s, s) / class_counts[c] for c, s in class_sums.items())
    within = (second - between) / total
    within = axes.T @ standardised(within) @ axes
    within = within + shrinkage * within.diagonal().mean() * torch.eye(dim, dtype=torch.float64)
    w_values, w_vectors = torch.linalg.eigh(within)
    whitening = w_vectors / w_values.clamp_min(1e-12).sqrt()[None, :]
    return mean.float(), (scale[:, None] * axes @ whitening).float(), total
