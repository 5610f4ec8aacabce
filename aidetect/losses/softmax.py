"""Softmax cross-entropy over one learned weight vector per class (a classifier head used only in training).

    logits = (W z + b) / τ,   L = cross-entropy(logits, label)

with ``z`` the unit embedding, ``W`` [C, D] and ``b`` [C] trained with the encoder and dropped at
export: the product reads the encoder (its hidden layer, ``--readout hidden``) through a k-NN
gallery, never this head. The open-set recognisers of faces and speakers train their embedding
this way and enroll new identities by gallery. Measured against SupCon on the zoo's Welch-spectrum
MLP (docs/zoo-benchmark.md, "A classifier's loss" and the bullet after it): in the probe, two
seeds, its hidden layer attributed better clean and detected a little better clean and under
`wild`; through the product, all twelve zoo cells higher, and on generators it never saw better
clean, worse after compression.

Unlike SupCon, every class is in every step's loss (through its weight row), not only the classes
the batch happens to hold; the batch sampler stays class-balanced all the same.
"""

from __future__ import annotations

import torch
from torch import nn


class SoftmaxLoss(nn.Module):
    """Cross-entropy of a linear head over the unit embedding, its logits divided by ``temperature``.

    Args:
        n_classes: classes the labels index (the trained classes and any extra ones).
        dim: the embedding's width.
        temperature: τ; unit embeddings give logits in [-‖w‖, ‖w‖], so 1/τ sets their starting range.
    Shapes:
        embeddings [N, D], L2-normalised; labels [N] integer class ids below ``n_classes``.
    """

    def __init__(self, n_classes: int, dim: int, temperature: float = 0.1) -> None:
        super().__init__()
        if n_classes < 2:
            raise ValueError(f"a softmax over classes needs at least 2 classes, got {n_classes}")
        if not temperature > 0:
            raise ValueError(f"temperature {temperature} must be above 0")
        self.temperature = float(temperature)
        self.head = nn.Linear(dim, n_classes)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor, class_weights: torch.Tensor | None = None) -> torch.Tensor:
        """``class_weights`` [C]: each image's loss counts with its class's weight (None: all alike)."""
        if embeddings.ndim != 2 or labels.ndim != 1 or embeddings.shape[0] != labels.shape[0]:
            raise ValueError(f"expected embeddings [N, D] and labels [N], got {tuple(embeddings.shape)} and {tuple(labels.shape)}")
        if len(labels) and int(labels.max()) >= self.head.out_features:
            raise ValueError(f"label {int(labels.max())} outside the head's {self.head.out_features} classes")
        # float32 even under autocast, as SupCon: a softmax over 1/τ-scaled logits loses too much in bf16
        with torch.autocast(device_type=embeddings.device.type, enabled=False):
            logits = self.head(embeddings.float()) / self.temperature
        weight = None if class_weights is None else class_weights.to(logits.device, logits.dtype)
        return nn.functional.cross_entropy(logits, labels, weight=weight)
