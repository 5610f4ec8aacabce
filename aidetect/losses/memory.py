"""Cross-batch memory (Wang et al., CVPR 2020, "XBM"): more negatives per step for free.

A small batch on a CPU holds few images of each class, so SupCon sees few
negatives per anchor. The memory keeps the (detached) embeddings and labels of
the last ``size`` training images; the loss contrasts each anchor of the batch
with the batch *and* the memory. Embeddings drift fast early in training, so
the trainer fills and uses the memory only after the learning-rate warm-up,
when they have slowed down (the XBM paper's observation).

The memory is a module with buffers only, so it is saved in checkpoints and a
resumed run continues with the same contents.
"""

from __future__ import annotations

import torch
from torch import nn


class CrossBatchMemory(nn.Module):
    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        if size < 1:
            raise ValueError("memory size must be at least 1")
        self.size = int(size)
        self.register_buffer("embeddings", torch.zeros(self.size, dim))
        self.register_buffer("labels", torch.full((self.size,), -1, dtype=torch.long))
        self.register_buffer("filled", torch.tensor(0, dtype=torch.long))
        self.register_buffer("head", torch.tensor(0, dtype=torch.long))

    def contents(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(embeddings [M, D], labels [M]) of the images remembered so far, M <= size."""
        n = int(self.filled)
        return self.embeddings[:n], self.labels[:n]

    @torch.no_grad()
    def push(self, embeddings: torch.Tensor, labels: torch.Tensor) -> None:
        """Remember a batch, overwriting the oldest entries once full."""
        embeddings, labels = embeddings.detach().float()[-self.size :], labels.detach()[-self.size :]
        n, head = len(labels), int(self.head)
        positions = (torch.arange(n, device=labels.device) + head) % self.size
        self.embeddings[positions] = embeddings.to(self.embeddings.device)
        self.labels[positions] = labels.to(self.labels.device)
        self.head.fill_((head + n) % self.size)
        self.filled.fill_(min(self.size, int(self.filled) + n))
