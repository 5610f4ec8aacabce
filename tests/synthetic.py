"""Synthetic "generators" for tests: each leaves its own trace on random content.

A class is a fixed high-frequency pattern (orientation and period differ per
class) added at low amplitude to smooth random content, plus a slight colour
cast: learnable by a tiny CNN in a few steps, invisible in the content.
``real`` is the content alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

# Period, orientation and colour cast per synthetic generator.
PATTERNS = {
    "gen_a": (2, "h", (12, 0, 0)),
    "gen_b": (3, "v", (0, 12, 0)),
    "gen_c": (4, "d", (0, 0, 12)),
    "gen_d": (2, "d", (10, 10, 0)),
    "gen_e": (5, "h", (0, 10, 10)),
    "gen_f": (3, "d", (10, 0, 10)),
}


def synthetic_image(label: str, index: int, size: int = 32) -> Image.Image:
    rng = np.random.default_rng([sum(map(ord, label)), index])
    coarse = rng.uniform(40, 215, size=(size // 8 + 1, size // 8 + 1, 3))
    content = np.asarray(Image.fromarray(coarse.astype(np.uint8)).resize((size, size), Image.Resampling.BICUBIC), dtype=np.float32)
    content += rng.normal(0, 3, content.shape)
    if label in PATTERNS:
        period, orientation, cast = PATTERNS[label]
        y, x = np.mgrid[0:size, 0:size]
        coord = {"h": y, "v": x, "d": x + y}[orientation]
        pattern = np.where((coord // 1) % period == 0, 1.0, -1.0)[..., None]
        content = content + 18.0 * pattern + np.asarray(cast, dtype=np.float32)
    return Image.fromarray(np.clip(content, 0, 255).astype(np.uint8))


def write_folders_dataset(root: Path, classes, n_train: int, n_val: int, n_test: int, size: int = 32) -> Path:
    """``root/{train,val,test}/<class>/*.png``."""
    index = 0
    for split, n in (("train", n_train), ("val", n_val), ("test", n_test)):
        for label in classes:
            folder = root / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for _ in range(n):
                synthetic_image(label, index, size).save(folder / f"{label}_{index:05d}.png")
                index += 1
    return root


def write_images(folder: Path, label: str, n: int, start: int = 100000, size: int = 32) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"{label}_{start + i:06d}.png"
        synthetic_image(label, start + i, size).save(path)
        paths.append(path)
    return paths
