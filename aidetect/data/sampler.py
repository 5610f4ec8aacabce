"""Class-balanced batches: m images of each class in every batch.

SupCon needs at least one positive per anchor; a plain shuffled batch of 186
images over 9 classes almost always has one, but a batch over many classes or
a small batch may not. This sampler guarantees it (pytorch-metric-learning's
MPerClassSampler does the same). The order is a pure function of
(seed, epoch), so a resumed run sees exactly the batches it would have seen.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np


class ClassBalancedBatchSampler:
    """Yields lists of dataset indices.

    Args:
        labels: class id of each dataset item.
        batch_size: wanted batch size (186 in the thesis). Each batch holds
            ``classes_per_batch * m`` items, which may round it down.
        m: images per class per batch; default ``max(2, batch_size // n_classes)``.
        seed: base seed; the epoch is mixed in by :meth:`set_epoch`.

    One epoch is ``len(labels) // batch`` batches, so each image is seen about
    once per epoch. Within a class, images are drawn without replacement from a
    shuffled list that is reshuffled when used up (small classes repeat sooner).
    """

    def __init__(self, labels: Sequence[int], batch_size: int, m: int | None = None, seed: int = 0) -> None:
        self.labels = np.asarray(labels, dtype=np.int64)
        self.classes = np.unique(self.labels)
        n_classes = len(self.classes)
        if n_classes < 1:
            raise ValueError("no labels to sample from")
        self.m = int(m) if m else max(2, batch_size // n_classes)
        self.classes_per_batch = max(1, min(n_classes, batch_size // self.m))
        self.batch_size = self.classes_per_batch * self.m
        self.seed = int(seed)
        self.epoch = 0
        self.by_class = {int(c): np.flatnonzero(self.labels == c) for c in self.classes}

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return max(1, len(self.labels) // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        pools = {c: rng.permutation(idx) for c, idx in self.by_class.items()}
        cursors = {c: 0 for c in pools}
        class_ids = np.array(sorted(pools))
        for _ in range(len(self)):
            chosen = class_ids if self.classes_per_batch == len(class_ids) else rng.choice(
                class_ids, self.classes_per_batch, replace=False
            )
            batch: list[int] = []
            for c in chosen:
                c = int(c)
                taken: list[int] = []
                while len(taken) < self.m:
                    pool = pools[c]
                    if cursors[c] >= len(pool):
                        pools[c] = pool = rng.permutation(self.by_class[c])
                        cursors[c] = 0
                    need = self.m - len(taken)
                    part = pool[cursors[c] : cursors[c] + need]
                    cursors[c] += len(part)
                    taken.extend(int(i) for i in part)
                batch.extend(taken)
            yield batch
