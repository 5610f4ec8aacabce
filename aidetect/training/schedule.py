"""What each step sees and at which rate: the epoch's class-balanced batches, and the learning-rate schedule."""

from __future__ import annotations

import math

from aidetect.data.sampler import ClassBalancedBatchSampler


def lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up then cosine decay to 0, as a multiplier of the base rate."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


class EpochBatches:
    """The batch sampler the training DataLoader keeps for the whole run.

    Each epoch it replays the class-balanced sampler for ``epoch`` (from
    ``start`` when resuming mid-epoch) and hands this rank its slice of every
    global batch, as ``(epoch, index)`` pairs so persistent workers crop with
    the right epoch's seed.
    """

    def __init__(self, sampler: ClassBalancedBatchSampler, rank: int = 0, world_size: int = 1) -> None:
        self.sampler, self.rank, self.world_size = sampler, rank, world_size
        self.epoch, self.start = 0, 0

    def __len__(self) -> int:
        return max(0, len(self.sampler) - self.start)

    def __iter__(self):
        self.sampler.set_epoch(self.epoch)
        for step, batch in enumerate(self.sampler):
            if step >= self.start:
                yield [(self.epoch, i) for i in batch[self.rank :: self.world_size]]


class ReplayedBatches:
    """The batch sampler of a pass the trainer repeats after every epoch on the same images
    (validation, BatchNorm re-estimation): the same batches each time, as ``(epoch, index)``
    pairs. Its DataLoader keeps its workers for the whole run, and the epoch in each request
    tells a worker that a new pass began, so it commits what it wrote to the pixel cache in the
    last one (aidetect.data.dataset): from the second pass on, every image is a cache hit.
    """

    def __init__(self, batches) -> None:
        self.batches = [list(batch) for batch in batches]
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        for batch in self.batches:
            yield [(self.epoch, i) for i in batch]
