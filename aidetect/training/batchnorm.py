"""BatchNorm statistics that match the weights ("precise BN", Wu & Johnson 2021): issue 17.

The running statistics start at mean 0 / variance 1 and follow the batches at momentum 0.1.
torchvision initialises EfficientNet's depthwise convolutions with a fan-out that counts all
C output channels instead of C / groups, so their outputs start with a variance of about
10⁻⁴ to 10⁻²; until 0.9^steps has fallen well below that (≈ 100–150 steps), the initial
variance of 1 dominates, eval mode divides those channels by far too much, and 16 blocks of
that leave every image with the same embedding. Re-estimating the statistics from scratch with
the current weights removes the lag whatever the step count (measurements: docs/training.md,
benchmarks/eval_collapse.py).
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

from aidetect.devices import autocast


def batchnorm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, batches: Iterable[torch.Tensor]) -> int:
    """Re-estimate every BatchNorm's running statistics for the model's current weights; the
    weights are not touched. Returns the number of images used.

    ``batches`` yields image tensors on the model's device (each of 2 images or more); each is
    normalised by its own statistics and the running statistics become their plain average
    (momentum None), with the other layers in eval mode (no stochastic depth, as at inference).
    With no batch at all the statistics are left as they were. The model is left in eval mode.
    """
    layers = batchnorm_layers(model)
    if not layers:
        return 0
    saved = [(bn.momentum, bn.running_mean.clone(), bn.running_var.clone(), bn.num_batches_tracked.clone()) for bn in layers]
    model.eval()
    for bn in layers:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the batches
        bn.train()
    seen = 0
    try:
        for images in batches:
            with autocast(images.device):
                model(images)
            seen += len(images)
    finally:
        for bn, (momentum, mean, var, count) in zip(layers, saved):
            bn.momentum = momentum
            if seen == 0:  # nothing to estimate from: keep what there was
                bn.running_mean.copy_(mean), bn.running_var.copy_(var), bn.num_batches_tracked.copy_(count)
        model.eval()
    return seen
