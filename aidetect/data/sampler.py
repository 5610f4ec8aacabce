"""Class-balanced batches: m images of each class in every batch.

SupCon needs at least one positive per anchor; a plain shuffled batch of 186
images over 9 classes almost always has one, but a batch over many classes or
a small batch may not. This sampler guarantees it (pytorch-metric-learning's
MPerClassSampler does the same). The order is a pure function of
(seed, epoch), so a resumed run sees exactly the batches it would have seen.

:class:`AlignedBatchSampler` adds content alignment: where a data set holds the same source
image in several classes (a real photo and its reconstructions by generators, as in zoo v2
or a set built like Rajan et al.'s aligned data, ICLR 2025), a batch takes the same sources
across its classes, so the contrast between real and generated cannot rest on content.
"""

from __future__ import annotations

from pathlib import PurePath
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
        pools = ClassPools(self.by_class, rng)
        for _ in range(len(self)):
            batch: list[int] = []
            for c in self._choose_classes(rng):
                batch.extend(pools.draw(c) for _ in range(self.m))
            yield batch

    def _choose_classes(self, rng: np.random.Generator) -> list[int]:
        """The classes of one batch: all of them, or ``classes_per_batch`` drawn without replacement."""
        class_ids = np.array(sorted(self.by_class))
        chosen = class_ids if self.classes_per_batch == len(class_ids) else rng.choice(
            class_ids, self.classes_per_batch, replace=False
        )
        return [int(c) for c in chosen]


class ClassPools:
    """Each class's items in a shuffled order, drawn one at a time; a class's order is reshuffled
    when used up (small classes repeat sooner). Both samplers draw from it, so a class fills its
    places in a batch the same way in each."""

    def __init__(self, by_class: dict[int, np.ndarray], rng: np.random.Generator) -> None:
        self.by_class = by_class
        self.rng = rng
        self.pools = {c: rng.permutation(idx) for c, idx in by_class.items()}
        self.cursors = {c: 0 for c in self.pools}

    def draw(self, c: int) -> int:
        if self.cursors[c] >= len(self.pools[c]):
            self.pools[c] = self.rng.permutation(self.by_class[c])
            self.cursors[c] = 0
        item = int(self.pools[c][self.cursors[c]])
        self.cursors[c] += 1
        return item


def source_groups(paths: Sequence[str]) -> np.ndarray:
    """One group id per path: files with the same name (without its extension) in different class
    folders are one source, as in zoo v2 (``real/x_w0.png``, ``taesd-sd1/x_w0.png``)."""
    ids: dict[str, int] = {}
    return np.array([ids.setdefault(PurePath(p).stem, len(ids)) for p in paths], dtype=np.int64)


class AlignedBatchSampler(ClassBalancedBatchSampler):
    """Class-balanced batches whose classes share sources: each batch draws ``m`` source groups and
    takes, in each of its classes, that class's image of each group; a class lacking a group fills
    the place from its own shuffled pool, as :class:`ClassBalancedBatchSampler` does. Groups are
    drawn without replacement from a shuffled list, reshuffled when used up.

    Args:
        groups: source group of each dataset item (:func:`source_groups`).
        Others as :class:`ClassBalancedBatchSampler`.
    """

    def __init__(self, labels: Sequence[int], groups: Sequence[int], batch_size: int, m: int | None = None, seed: int = 0) -> None:
        super().__init__(labels, batch_size, m, seed)
        self.groups = np.asarray(groups, dtype=np.int64)
        if len(self.groups) != len(self.labels):
            raise ValueError(f"{len(self.groups)} groups for {len(self.labels)} labels")
        self.members: dict[tuple[int, int], list[int]] = {}
        for i, (label, group) in enumerate(zip(self.labels.tolist(), self.groups.tolist())):
            self.members.setdefault((label, group), []).append(i)
        # Groups present in at least two classes: the only ones that align anything.
        per_group = np.bincount(np.unique(np.stack([self.groups, self.labels]), axis=1)[0])
        self.shared_groups = np.flatnonzero(per_group >= 2)

    def aligned_share(self) -> float:
        """Share of the items whose source is in at least two classes (0: nothing to align)."""
        return float(np.isin(self.groups, self.shared_groups).mean()) if len(self.groups) else 0.0

    def __iter__(self) -> Iterator[list[int]]:
        if not len(self.shared_groups):
            yield from super().__iter__()
            return
        rng = np.random.default_rng([self.seed, self.epoch, 1])
        pools = ClassPools(self.by_class, rng)
        group_pool, group_cursor = rng.permutation(self.shared_groups), 0
        for _ in range(len(self)):
            chosen = self._choose_classes(rng)
            if group_cursor + self.m > len(group_pool):
                group_pool, group_cursor = rng.permutation(self.shared_groups), 0
            drawn = group_pool[group_cursor : group_cursor + self.m]
            group_cursor += self.m
            batch: list[int] = []
            for c in chosen:
                taken: list[int] = []
                for g in drawn.tolist():
                    items = self.members.get((c, g))
                    if items:
                        taken.append(int(items[rng.integers(len(items))]))
                while len(taken) < self.m:  # the class lacks some of the groups: fill from its own pool
                    candidate = pools.draw(c)
                    # an image twice in one batch only when its class has fewer than m images
                    if candidate not in taken or len(self.by_class[c]) < self.m:
                        taken.append(candidate)
                batch.extend(taken)
            yield batch


class ExtraClassesBatchSampler:
    """Class-balanced batches of the data's own classes, each with images of a few *extra* classes
    added: classes that only train the encoder (e.g. thousands of procedural up-sampling networks,
    ``benchmarks/zoo/procedural.py``) and never enter its gallery, validation or calibration.

    Why a sampler of its own: with 2,000 extra classes beside 15, drawing classes uniformly would
    leave the data's own classes out of most batches. Here every batch holds the batch the data's
    classes would have had without extras (``main``), then ``extra_classes`` extra classes drawn at
    random, ``extra_m`` images each, so each extra class gives its positives and every anchor of the
    data's classes meets many more negatives. An epoch is ``main``'s epoch.

    Args:
        main: the sampler of the data's own classes, over dataset items ``0 .. n_main - 1``.
        extra_labels: class id of each extra item; the extra items follow the main ones in the
            dataset (item ``n_main + j`` has ``extra_labels[j]``), and their ids differ from main's.
        extra_classes: extra classes per batch (all of them, if fewer).
        extra_m: images of each extra class per batch (repeated when a class has fewer).
    """

    def __init__(self, main: ClassBalancedBatchSampler, extra_labels: Sequence[int], extra_classes: int,
                 extra_m: int, seed: int = 0) -> None:
        extra = np.asarray(extra_labels, dtype=np.int64)
        if not len(extra):
            raise ValueError("no extra items")
        if np.isin(extra, main.classes).any():
            raise ValueError("the extra classes' ids must differ from the main classes'")
        if extra_classes < 1 or extra_m < 1:
            raise ValueError(f"extra classes per batch ({extra_classes}) and images per extra class ({extra_m}) must be at least 1")
        self.main, self.seed, self.extra_m = main, int(seed), int(extra_m)
        n_main = len(main.labels)
        self.extra_by_class = {int(c): np.flatnonzero(extra == c) + n_main for c in np.unique(extra)}
        self.extra_classes = min(int(extra_classes), len(self.extra_by_class))
        self.m = main.m
        self.batch_size = main.batch_size + self.extra_classes * self.extra_m
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        self.main.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.main)

    def __iter__(self) -> Iterator[list[int]]:
        # its own stream (the 2): the main batches are exactly those of a run without extras
        rng = np.random.default_rng([self.seed, self.epoch, 2])
        pools = ClassPools(self.extra_by_class, rng)
        class_ids = np.array(sorted(self.extra_by_class))
        for batch in self.main:
            for c in rng.choice(class_ids, self.extra_classes, replace=False).tolist():
                batch.extend(pools.draw(c) for _ in range(self.extra_m))
            yield batch
