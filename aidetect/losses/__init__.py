"""Training losses: one per file, all taking ``(embeddings [N, D], labels [N])``."""

from aidetect.losses.contrastive import ContrastiveLoss
from aidetect.losses.supcon import SupConLoss

__all__ = ["SupConLoss", "ContrastiveLoss", "build_loss"]


def build_loss(name: str, **kwargs):
    """``supcon`` (the thesis's default) or ``contrastive`` (Euclidean, with margin)."""
    if name == "supcon":
        return SupConLoss(**{k: v for k, v in kwargs.items() if k in ("temperature", "learnable_temperature")})
    if name == "contrastive":
        return ContrastiveLoss(**{k: v for k, v in kwargs.items() if k == "margin"})
    from aidetect.errors import AidetectError

    raise AidetectError(f"unknown loss {name!r}; choose supcon or contrastive")
