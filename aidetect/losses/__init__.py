"""Training losses: one per file, all taking ``(embeddings [N, D], labels [N])``."""

from aidetect.config import LOSSES
from aidetect.losses.contrastive import ContrastiveLoss
from aidetect.losses.softmax import SoftmaxLoss
from aidetect.losses.supcon import SupConLoss

__all__ = ["SupConLoss", "ContrastiveLoss", "SoftmaxLoss", "LOSSES", "build_loss"]


def build_loss(name: str, **kwargs):
    """``supcon`` (the thesis's default), ``contrastive`` (Euclidean, with margin) or ``softmax``
    (a classifier head over the classes, ``n_classes`` and ``dim`` given, used only in training)."""
    if name == "supcon":
        return SupConLoss(**{k: v for k, v in kwargs.items() if k in ("temperature", "learnable_temperature")})
    if name == "contrastive":
        return ContrastiveLoss(**{k: v for k, v in kwargs.items() if k == "margin"})
    if name == "softmax":
        return SoftmaxLoss(**{k: v for k, v in kwargs.items() if k in ("n_classes", "dim", "temperature")})
    from aidetect.errors import AidetectError

    raise AidetectError(f"unknown loss {name!r}; choose {', '.join(LOSSES)}")
