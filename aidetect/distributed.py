"""Several processes (GPUs) with PyTorch's own engine: ``torchrun --nproc_per_node N -m aidetect train ...``.

torchrun sets RANK, LOCAL_RANK and WORLD_SIZE; :func:`setup` starts the process
group from them (NCCL on CUDA, gloo on CPU). Every rank builds the same
class-balanced global batch from the same seed and takes its own slice, and
SupCon is computed over the embeddings gathered from all ranks, so the number
of negatives grows with the number of GPUs (the thesis's stated bottleneck).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def from_environment() -> DistInfo:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    return DistInfo(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))


def setup(info: DistInfo, device: torch.device) -> torch.device:
    """Start the process group (once) and return this rank's device."""
    if not info.enabled:
        return device
    if device.type == "cuda":
        torch.cuda.set_device(info.local_rank)
        device = torch.device("cuda", info.local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def gather_with_grad(tensor: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Concatenate ``tensor`` from every rank in rank order; gradients flow back to each rank's slice."""
    if not info.enabled:
        return tensor
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(tensor), dim=0)


def gather(tensor: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if not info.enabled:
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(info.world_size)]
    dist.all_gather(parts, tensor)
    return torch.cat(parts, dim=0)


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def cleanup(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def gather_varlen_with_grad(tensor: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Like :func:`gather_with_grad` for slices of different lengths (a rank may drop unreadable images)."""
    if not info.enabled:
        return tensor
    sizes = gather(torch.tensor([tensor.shape[0]], device=tensor.device), info).tolist()
    largest = max(sizes)
    if largest == 0:
        return tensor
    padded = torch.cat([tensor, tensor.new_zeros((largest - tensor.shape[0],) + tuple(tensor.shape[1:]))]) if tensor.shape[0] < largest else tensor
    parts = gather_with_grad(padded, info).split(largest)
    return torch.cat([part[:size] for part, size in zip(parts, sizes)], dim=0)
