"""The encoder: input front-end → trunk (torchvision's EfficientNet-B0) → projection → L2-normalised embedding.

Architectures are looked up by name in a small registry (as timm does), so a
model directory can say which one it holds and inference rebuilds it exactly.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from aidetect.config import FRONT_END_GRID, READOUTS, SPECTRUM_BINS, WELCH_ENCODERS, ArchitectureConfig
from aidetect.errors import AidetectError
from aidetect.models.cooccurrence import FEATURES as COOCCURRENCE_FEATURES
from aidetect.models.cooccurrence import ResidualCooccurrence
from aidetect.models.efficientnet import FEATURES, efficientnet_b0_features
from aidetect.models.fusion import fuse
from aidetect.models.preprocess import crop_offset
from aidetect.models.readout import READOUT_STAGES, HiddenReadout, StageReadout, pool_stage, run_stages, stage_layers
from aidetect.models.spectrum import SpectrumFeatures
from aidetect.models.welch import WelchPowerSpectrum, WelchSpectrumFeatures, welch_bins

TrunkFactory = Callable[[ArchitectureConfig], tuple[nn.Module, int]]
_TRUNKS: dict[str, TrunkFactory] = {}


def register_trunk(name: str) -> Callable[[TrunkFactory], TrunkFactory]:
    def decorator(factory: TrunkFactory) -> TrunkFactory:
        _TRUNKS[name] = factory
        return factory

    return decorator


def list_architectures() -> list[str]:
    return sorted(_TRUNKS)


@register_trunk("efficientnet_b0")
def _efficientnet_b0(arch: ArchitectureConfig) -> tuple[nn.Module, int]:
    # Our own build of torchvision's network (aidetect.models.efficientnet): same names and
    # initialisation, without torchvision's 1.7 s import. Random weights; see init_weights.
    trunk = nn.Sequential(efficientnet_b0_features(arch.stem_stride, front_end_channels(arch.front_end)),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
    return trunk, FEATURES


@register_trunk("tiny")
def _tiny(arch: ArchitectureConfig) -> tuple[nn.Module, int]:
    """A 3-layer CNN for tests and quick experiments; not for real use."""
    s = arch.stem_stride
    trunk = nn.Sequential(
        nn.Conv2d(front_end_channels(arch.front_end), 16, 3, stride=s, padding=1, bias=False),
        nn.BatchNorm2d(16),
        nn.SiLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(32),
        nn.SiLU(),
        nn.Conv2d(32, 64, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(64),
        nn.SiLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(1),
    )
    return trunk, 64


@register_trunk("spectrum")
def _spectrum(arch: ArchitectureConfig) -> tuple[nn.Module, int]:
    """No learning: the radial spectrum of the high-pass residual (aidetect.models.spectrum)."""
    return SpectrumFeatures(arch.embedding_dim), arch.embedding_dim


@register_trunk("welch-mlp")
def _welch_mlp(arch: ArchitectureConfig) -> tuple[nn.Module, int]:
    """A learned encoder over the 2-D Welch spectrum (aidetect.models.welch): the log power spectrum
    of the grey high-pass residual averaged over 64-px tiles, standardised by a BatchNorm without
    parameters (its running statistics are the training split's), then the MLP head of
    :data:`TRUNK_HEADS` trained with the recipe's loss. Why: on the zoo the trace of every generator
    family here sits at points of that plane, and the CNN trained on a CPU budget reads less of it
    than a linear map fitted to it (docs/zoo-benchmark.md, "A learned encoder over the Welch spectrum")."""
    return nn.Sequential(WelchPowerSpectrum(), nn.BatchNorm1d(welch_bins(), affine=False)), welch_bins()


class SideBySide(nn.Module):
    """Several fixed readings of the same pixels, joined: [N, sum of their widths]."""

    def __init__(self, *readers: nn.Module) -> None:
        super().__init__()
        self.readers = nn.ModuleList(readers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.cat([reader(images) for reader in self.readers], dim=1)


@register_trunk("welch-cooc-mlp")
def _welch_cooc_mlp(arch: ArchitectureConfig) -> tuple[nn.Module, int]:
    """The welch-mlp with a second input beside the Welch spectrum: co-occurrences of quantised
    pixel residuals within and across the colour channels (aidetect.models.cooccurrence, 500
    log-frequencies), standardised with it. Why: the Welch spectrum is a second-order statistic of
    the grey residual and cannot see how a generator rounds, clips and interpolates (higher-order
    dependencies) nor what a camera's demosaicing leaves between channels; beside it, a probe found
    them adding attribution after recompression (docs/zoo-benchmark.md, "A second input beside the
    Welch spectrum")."""
    width = welch_bins() + COOCCURRENCE_FEATURES
    return nn.Sequential(SideBySide(WelchPowerSpectrum(), ResidualCooccurrence()), nn.BatchNorm1d(width, affine=False)), width


def _welch_mlp_head(arch: ArchitectureConfig, trunk_dim: int) -> nn.Module:
    # BatchNorm and dropout in the hidden layer: 2,112 correlated log-powers (2,612 inputs with the
    # co-occurrences) from ~15 classes, where an unregularised layer learns the seen generators'
    # bins and little else.
    hidden = arch.projection_hidden
    if hidden == 0:  # asked for no hidden layer, as the other trunks' heads honour it
        return nn.Linear(trunk_dim, arch.embedding_dim)
    return nn.Sequential(nn.Linear(trunk_dim, hidden), nn.BatchNorm1d(hidden), nn.GELU(), nn.Dropout(0.2),
                         nn.Linear(hidden, arch.embedding_dim))


#: Trunks that bring their own projection head (the others get the head ``projection_hidden`` describes).
TRUNK_HEADS: dict[str, Callable[[ArchitectureConfig, int], nn.Module]] = {name: _welch_mlp_head for name in WELCH_ENCODERS}

#: The spectra a learned embedding can be fused with (``--spectrum``), each giving SPECTRUM_BINS values.
SPECTRA: dict[str, Callable[[int], nn.Module]] = {"radial": SpectrumFeatures, "welch": WelchSpectrumFeatures}

#: Trunks whose features are the embedding itself (no projection head, nothing to train).
FIXED_FEATURE_TRUNKS = frozenset({"spectrum"})


def _block_residual(x: torch.Tensor, block: int) -> torch.Tensor:
    """x minus the mean of its ``block`` × ``block`` cell, cells aligned to the image's origin. Sides
    that are not multiples of the block are padded (replicated edge) for the last cells, then cut back."""
    h, w = x.shape[-2:]
    pad_h, pad_w = -h % block, -w % block
    padded = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else x
    pooled = F.avg_pool2d(padded, block)
    return (padded - F.interpolate(pooled, scale_factor=float(block), mode="nearest"))[..., :h, :w]


class NPRFrontEnd(nn.Module):
    """Neighbouring-pixel residual (Tan et al., CVPR 2024): x − nearest-up(avg-pool₂(x)), ×4.

    Up-sampling layers make each 2×2 block of pixels depend on each other; the
    residual removes image content and keeps that dependency. An odd side has its last
    cells padded (every preprocessing size aidetect offers is even).
    """

    out_channels = 3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _block_residual(x, 2) * 4.0


class LatentNPRFrontEnd(nn.Module):
    """NPR's three channels, then the same residual over 8×8 cells: 6 channels.

    A latent-diffusion image leaves its decoder as 8×8 pixel cells, each grown from one latent
    vector by three ×2 up-samplings with convolutions between, so its output repeats with the cell
    at k/8 cycles per pixel. On the zoo's test split one number, the power at such a frequency over
    its surroundings, separates real from the five `taesd-*` classes with no training
    (benchmarks/zoo/latent_grid.py, docs/zoo-benchmark.md "Where the latent decoders are"): at 1/2,
    the 2×2 grid NPR reads, AUC 67–81; for the two FLUX decoders at 1/4 (a 4-px period), 75–77,
    and still 74–76 at JPEG 75. The 2×2 residual passes a 4-px period at half to all of its
    amplitude (by phase) and an 8-px one at about a seventh; the 8×8 residual keeps both and
    removes the content below them. Crops are aligned to 8 (``--grid 8``, set unless given;
    FRONT_END_GRID) so the cells stay in phase with the decoder's; a side that is not a multiple of
    8 has its last cells padded. The first three channels are exactly :class:`NPRFrontEnd`'s, so a
    model trained with ``npr`` can start this one (init_weights widens its stem with zero weights:
    the same function at step 0)."""

    out_channels = 6

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # ×1 for the 8×8 residual: it holds more of the image than the 2×2 one and is larger already.
        return torch.cat([_block_residual(x, 2) * 4.0, _block_residual(x, 8)], dim=1)


class SRMFrontEnd(nn.Module):
    """High-pass residual with the 5×5 "KV" filter of the spatial rich model (Fridrich &
    Kodovský 2012), per colour channel: removes image content and keeps the pixel-level noise
    that generators and cameras leave, without assuming a 2×2 up-sampling grid as NPR does."""

    out_channels = 3

    def __init__(self) -> None:
        super().__init__()
        kv = torch.tensor(
            [[-1, 2, -2, 2, -1], [2, -6, 8, -6, 2], [-2, 8, -12, 8, -2], [2, -6, 8, -6, 2], [-1, 2, -2, 2, -1]],
            dtype=torch.float32,
        ) / 12.0
        self.register_buffer("kernel", kv.expand(3, 1, 5, 5).clone(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # ×4 as NPR: residuals are small, and the trunk's batch norm adapts to the rest.
        return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), self.kernel.to(x.dtype), groups=3) * 4.0


class RGBFrontEnd(nn.Identity):
    """The pixels as they are (the thesis)."""

    out_channels = 3


FRONT_ENDS: dict[str, Callable[[], nn.Module]] = {
    "rgb": RGBFrontEnd, "npr": NPRFrontEnd, "npr-latent": LatentNPRFrontEnd, "srm": SRMFrontEnd,
}

#: front-end pairs (from, to) where a model trained with the first can start one with the second:
#: the second's first channels are the first's output, its further input channels start at zero.
WIDENING_FRONT_ENDS = frozenset({("npr", "npr-latent")})


def front_end_channels(name: str) -> int:
    """Channels the trunk's first layer reads after front-end ``name``."""
    return FRONT_ENDS[name].out_channels if name in FRONT_ENDS else 3


class Encoder(nn.Module):
    """Images [N, 3, S, S] in [0, 1] → embeddings [N, D], unit L2 norm.

    This is the only place where embeddings are normalised; everything
    downstream (gallery, k-NN, losses) assumes cosine similarity = dot product.
    With ``arch.spectrum_weight`` > 0 the output is the fused layout of
    aidetect.models.fusion, [N, D + 128], still of unit norm.

    Two embeddings: :meth:`trained_embedding` is the projection head's output, what the training
    loss shapes; ``forward`` is the product's embedding (galleries, queries), the same unless
    ``arch.readout`` is ``stages`` or ``hidden``, when it is read from the trunk's stages or the
    head's hidden layer by a :class:`~aidetect.models.readout.FittedReadout` fitted after training.
    """

    def __init__(self, arch: ArchitectureConfig) -> None:
        super().__init__()
        if arch.name not in _TRUNKS:
            raise AidetectError(f"unknown architecture {arch.name!r}; choose one of {', '.join(list_architectures())}")
        if arch.front_end not in FRONT_ENDS:
            raise AidetectError(f"unknown front-end {arch.front_end!r}; choose one of {', '.join(FRONT_ENDS)}")
        if arch.name in FIXED_FEATURE_TRUNKS and front_end_channels(arch.front_end) != 3:
            raise AidetectError(f"architecture {arch.name!r} reads 3 colour channels, and front-end {arch.front_end!r} "
                                f"gives {front_end_channels(arch.front_end)}; use --front-end rgb, npr or srm with it")
        if arch.name in WELCH_ENCODERS and arch.front_end != "rgb":
            raise AidetectError(f"architecture {arch.name!r} computes its own residuals from the pixels; "
                                f"use --front-end rgb with it, not {arch.front_end!r}")
        self.arch = arch
        self.front_end = FRONT_ENDS[arch.front_end]()
        self.trunk, self.trunk_dim = _TRUNKS[arch.name](arch)
        if arch.name in FIXED_FEATURE_TRUNKS:
            self.head = nn.Identity()
        elif arch.name in TRUNK_HEADS:
            self.head = TRUNK_HEADS[arch.name](arch, self.trunk_dim)
        elif arch.projection_hidden > 0:
            self.head = nn.Sequential(
                nn.Linear(self.trunk_dim, arch.projection_hidden),
                nn.ReLU(inplace=True),
                nn.Linear(arch.projection_hidden, arch.embedding_dim),
            )
        else:
            self.head = nn.Linear(self.trunk_dim, arch.embedding_dim)
        self.spectrum = None
        if arch.spectrum_weight > 0:
            if not 0 < arch.spectrum_weight < 1 or arch.name in FIXED_FEATURE_TRUNKS:
                raise AidetectError(f"spectrum weight {arch.spectrum_weight} must lie between 0 and 1, with a learned trunk")
            # Fixed features (statistics fitted on the training split, no parameters): the
            # learned part can add what the spectrum misses and keep what it survives.
            if arch.spectrum not in SPECTRA:  # config.json is checked on load; a library caller may not have
                raise AidetectError(f"unknown spectrum {arch.spectrum!r}; choose one of {', '.join(SPECTRA)}")
            self.spectrum = SPECTRA[arch.spectrum](SPECTRUM_BINS)
        if arch.readout not in READOUTS:
            raise AidetectError(f"unknown readout {arch.readout!r}; choose one of {', '.join(READOUTS)}")
        self.readout = None
        if arch.readout == "stages":
            if arch.name not in READOUT_STAGES:
                raise AidetectError(f"architecture {arch.name!r} has no stage readout; use readout 'head'")
            self.readout_stages = READOUT_STAGES[arch.name]
            probe = torch.zeros(1, 3, 64, 64)
            with torch.no_grad():
                was = self.trunk.training
                self.trunk.eval()  # a probe batch of one must not touch BatchNorm statistics
                channels = [o.shape[1] for o in run_stages(stage_layers(self.trunk), self.front_end(probe), self.readout_stages)]
                self.trunk.train(was)
            self.readout = StageReadout(channels, arch.embedding_dim)
        elif arch.readout == "hidden":
            if arch.name in FIXED_FEATURE_TRUNKS:
                raise AidetectError(f"architecture {arch.name!r} has no projection head, so no hidden layer to read; use readout 'head'")
            last = self.head[-1] if isinstance(self.head, nn.Sequential) else None
            if not isinstance(last, nn.Linear):
                raise AidetectError(f"architecture {arch.name!r} with projection_hidden {arch.projection_hidden} has no hidden "
                                    f"layer in its head; use readout 'head'{' or stages' if arch.name in READOUT_STAGES else ''}")
            self.readout = HiddenReadout(last.in_features, arch.embedding_dim)

    def _learned_window(self, images: torch.Tensor) -> torch.Tensor:
        """The centre window ``arch.learned_crop`` of each image (aligned to a 4-px grid, or the
        front-end's when coarser, so an up-sampling grid stays in phase), or the images as they are."""
        size = self.arch.learned_crop
        h, w = images.shape[-2:]
        if size is None or (h <= size and w <= size):
            return images
        grid = max(4, FRONT_END_GRID.get(self.arch.front_end, 1))
        top, left = crop_offset(h, min(size, h), grid, None), crop_offset(w, min(size, w), grid, None)
        return images[..., top : top + min(size, h), left : left + min(size, w)]

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Trunk features [N, trunk_dim] before the projection head."""
        return self.trunk(self.front_end(images))

    def pooled_stages(self, images: torch.Tensor) -> torch.Tensor:
        """[N, F] pooled outputs of the readout stages (aidetect.models.readout), before standardisation."""
        outputs = run_stages(stage_layers(self.trunk), self.front_end(self._learned_window(images)), self.readout_stages)
        return torch.cat([pool_stage(o) for o in outputs], dim=1)

    def hidden_layer(self, images: torch.Tensor) -> torch.Tensor:
        """[N, H] the projection head's hidden layer: its input to the last linear layer (dropout,
        if any, is the identity in eval mode), in float32."""
        return self.head[:-1](self.features(self._learned_window(images))).float()

    def readout_features(self, images: torch.Tensor) -> torch.Tensor:
        """What the fitted readout reads, before its map: pooled stages or the hidden layer."""
        return self.hidden_layer(images) if self.arch.readout == "hidden" else self.pooled_stages(images)

    def _head_output(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(self._learned_window(images)))

    def _readout_output(self, images: torch.Tensor) -> torch.Tensor:
        return self.readout(self.readout_features(images))

    def _embed(self, images: torch.Tensor, learned_part: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        views = images.shape[1] if images.ndim == 5 else 1
        flat = images.flatten(0, 1) if images.ndim == 5 else images

        def per_image(values: torch.Tensor) -> torch.Tensor:
            return values.float().view(-1, views, values.shape[-1]).mean(dim=1)

        learned = per_image(learned_part(flat))
        if self.spectrum is None:
            return F.normalize(learned, dim=1)
        return fuse(learned, per_image(self.spectrum(flat)), self.arch.spectrum_weight)

    def trained_embedding(self, images: torch.Tensor) -> torch.Tensor:
        """What the training loss sees: the projection head's output (fused with the spectrum when set)."""
        return self._embed(images, self._head_output)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The product's embedding of [N, 3, S, S], or [N, V, 3, S, S] for V views of each image
        (their projections are averaged)."""
        return self._embed(images, self._readout_output if self.readout is not None else self._head_output)


class TrainingView(nn.Module):
    """The encoder as the training step calls it (through DDP or torch.compile, which call
    ``forward``): its :meth:`Encoder.trained_embedding`."""

    def __init__(self, encoder: Encoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder.trained_embedding(images)
