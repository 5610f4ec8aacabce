"""Supervised Contrastive loss (Khosla et al. 2020), as written in the thesis (section 3.4.2).

For an anchor i with positives P(i) (same label, i excluded) and A(i) every
other sample in the batch:

    L_i = -1/|P(i)| * sum_{p in P(i)} log( exp(z_i·z_p/τ) / sum_{a in A(i)} exp(z_i·z_a/τ) )

The batch loss is the mean of L_i over anchors that have at least one positive.
Anchors without a positive are left out; a batch with none returns 0 that still
back-propagates (a zero gradient), never NaN.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from aidetect.config import SUPCON_MAX_TEMPERATURE, SUPCON_MIN_TEMPERATURE


class SupConLoss(nn.Module):
    """SupCon over one view per image.

    Args:
        temperature: τ at the start (0.1 as in the thesis).
        learnable_temperature: learn τ with the encoder. It is stored as log τ
            (so it stays positive) and clamped to [min_temperature, max_temperature]
            so a runaway step cannot make the logits overflow.
    Shapes:
        embeddings [N, D], L2-normalised; labels [N] integer class ids.
    """

    def __init__(
        self,
        temperature: float = 0.1,
        learnable_temperature: bool = True,
        min_temperature: float = SUPCON_MIN_TEMPERATURE,
        max_temperature: float = SUPCON_MAX_TEMPERATURE,
    ) -> None:
        super().__init__()
        if not (min_temperature <= temperature <= max_temperature):
            raise ValueError(f"temperature {temperature} outside [{min_temperature}, {max_temperature}]")
        self.min_log = math.log(min_temperature)
        self.max_log = math.log(max_temperature)
        log_t = torch.tensor(math.log(temperature), dtype=torch.float32)
        if learnable_temperature:
            self.log_temperature = nn.Parameter(log_t)
        else:
            self.register_buffer("log_temperature", log_t)

    @property
    def temperature(self) -> torch.Tensor:
        return self.log_temperature.clamp(self.min_log, self.max_log).exp()

    def forward(
        self,
        embeddings: torch.Tensor,
        labels: torch.Tensor,
        memory: tuple[torch.Tensor, torch.Tensor] | None = None,
        temperature: float | None = None,
        class_weights: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``memory``: (embeddings [M, D], labels [M]) of earlier batches, contrasted with every
        anchor like the batch's own images (no gradient flows into them). ``temperature``
        replaces the learned τ for this call (a warm-up at a higher, fixed temperature).
        ``class_weights`` [C]: each anchor's L_i counts with its class's weight, the batch loss
        being their weighted mean (None: every anchor alike, the thesis)."""
        if embeddings.ndim != 2 or labels.ndim != 1 or embeddings.shape[0] != labels.shape[0]:
            raise ValueError(f"expected embeddings [N, D] and labels [N], got {tuple(embeddings.shape)} and {tuple(labels.shape)}")
        # Computed in float32 even under autocast: the log-sum-exp of 1/τ-scaled
        # similarities loses too much in bf16.
        z = embeddings.float()
        n = z.shape[0]
        contrast, contrast_labels = z, labels
        if memory is not None and len(memory[1]):
            contrast = torch.cat([z, memory[0].detach().float()])
            contrast_labels = torch.cat([labels, memory[1]])
        tau = self.temperature.float() if temperature is None else temperature
        logits = z @ contrast.T / tau
        # Each anchor against itself: the first n columns are the batch in order.
        self_mask = torch.zeros(n, len(contrast_labels), dtype=torch.bool, device=z.device)
        self_mask[:, :n] = torch.eye(n, dtype=torch.bool, device=z.device)
        logits = logits.masked_fill(self_mask, float("-inf"))
        log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)

        positives = (labels[:, None] == contrast_labels[None, :]) & ~self_mask
        n_pos = positives.sum(dim=1)
        has_pos = n_pos > 0
        if not bool(has_pos.any()):
            return embeddings.sum() * 0.0 + self.log_temperature * 0.0
        # Zero out non-positives before summing (log_prob is -inf on the diagonal).
        pos_log_prob = torch.where(positives, log_prob, torch.zeros_like(log_prob)).sum(dim=1)
        per_anchor = -pos_log_prob[has_pos] / n_pos[has_pos]
        if class_weights is None:
            loss = per_anchor.mean()
        else:
            weights = class_weights.to(per_anchor.device, per_anchor.dtype)[labels[has_pos]]
            loss = (weights * per_anchor).sum() / weights.sum()
        # + 0·log τ keeps τ in the graph when a fixed temperature replaced it (DDP needs every parameter used).
        return loss + self.log_temperature * 0.0
