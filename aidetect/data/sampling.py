"""Every seeded per-class draw of the package, in one place.

A draw of class ``c`` uses a generator seeded from ``(seed, purpose, …, c)`` and the
class's members in a stable order, so each class's draw depends only on its own
members and the seed: adding, removing or filtering another class never changes it.
Dataset discovery (splits, ``max_per_class``), the initial gallery, the validation
images of calibration, evaluation galleries and the visualised points all draw this way.
(Class-balanced *training batches* are another job: aidetect.data.sampler.)
"""

from __future__ import annotations

import zlib
from typing import Sequence, TypeVar

import numpy as np

T = TypeVar("T")


def seeded_rng(seed: int, *purpose: str) -> np.random.RandomState:
    """A generator for one purpose (and one class): independent of every other purpose."""
    # CRC32 of the purpose string is stable across runs and Python versions (unlike hash()).
    tag = zlib.crc32("\0".join(purpose).encode("utf-8"))
    return np.random.RandomState(np.array([seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF, tag], dtype=np.uint32))


def sample_rows(n: int, k: int, seed: int, *purpose: str) -> np.ndarray:
    """Sorted indices of a seeded draw of ``k`` of ``range(n)`` (all of them when ``k >= n``)."""
    if k >= n:
        return np.arange(n, dtype=np.int64)
    return np.sort(seeded_rng(seed, *purpose).choice(n, size=k, replace=False)).astype(np.int64)


def rows_per_class(labels: Sequence[str], per_class: int | None, seed: int, purpose: str = "per-class") -> np.ndarray:
    """Row indices, ascending: at most ``per_class`` rows of each label, each label drawn independently."""
    labels = np.asarray(labels)
    keep = []
    for name in sorted(set(labels.tolist())):
        rows = np.flatnonzero(labels == name)
        if per_class is not None:
            rows = rows[sample_rows(len(rows), int(per_class), seed, purpose, str(name))]
        keep.append(rows)
    return np.sort(np.concatenate(keep)).astype(np.int64) if keep else np.zeros(0, dtype=np.int64)


def sample_per_class(samples: Sequence[T], per_class: int | None, seed: int, purpose: str = "per-class") -> list[T]:
    """At most ``per_class`` samples (objects with ``.path`` and ``.label``) of each label,
    ordered by label then path, so the result does not depend on the input order."""
    ordered = sorted(samples, key=lambda s: (s.label, s.path))
    rows = rows_per_class([s.label for s in ordered], per_class, seed, purpose)
    return [ordered[i] for i in rows]
