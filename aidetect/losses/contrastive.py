"""Euclidean contrastive loss with a margin, on Siamese pairs (thesis section 3.4.1).

    L = 1/N * sum_i (1 - y_i) * D_i^2 + y_i * max(0, m - D_i)^2

with D_i the Euclidean distance of pair i and y_i = 1 for a dissimilar pair.
Pairs are formed inside the batch: every (i, j), i < j, is a pair; the loss is
averaged over all of them. The thesis found margins 1–100 equivalent and used 1.
"""

from __future__ import annotations

import torch
from torch import nn


class ContrastiveLoss(nn.Module):
    """Shapes: embeddings [N, D], labels [N]. Returns a scalar."""

    def __init__(self, margin: float = 1.0) -> None:
        super().__init__()
        if margin <= 0:
            raise ValueError("margin must be positive")
        self.margin = float(margin)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        z = embeddings.float()
        n = z.shape[0]
        if n < 2:
            return embeddings.sum() * 0.0
        rows, cols = torch.triu_indices(n, n, offset=1, device=z.device)
        distance = (z[rows] - z[cols]).pow(2).sum(dim=1).clamp_min(1e-12).sqrt()
        dissimilar = (labels[rows] != labels[cols]).float()
        loss = (1 - dissimilar) * distance.pow(2) + dissimilar * (self.margin - distance).clamp_min(0).pow(2)
        return loss.mean()
