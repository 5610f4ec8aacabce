"""The one place where an image becomes the encoder's input.

The recipe lives in the model's :class:`~aidetect.config.PreprocessConfig`,
so training and inference apply exactly the same steps. Pixels are scaled to
[0, 1] as in the thesis; no mean/std normalisation.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from aidetect.config import PreprocessConfig

_INTERPOLATION = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


def _pad_to(array: np.ndarray, size: int) -> np.ndarray:
    h, w = array.shape[:2]
    if h >= size and w >= size:
        return array
    pad_h, pad_w = max(0, size - h), max(0, size - w)
    # Reflection keeps pixel statistics closer to the image than a flat border;
    # a 1-pixel image cannot be reflected, so fall back to edge padding.
    mode = "reflect" if min(h, w) > 1 and pad_h < h and pad_w < w else "edge"
    return np.pad(array, ((0, pad_h), (0, pad_w), (0, 0)), mode=mode)


def crop_offset(extent: int, size: int, grid: int, rng: np.random.Generator | None) -> int:
    """Top/left offset of a crop: centred when ``rng`` is None, else random; aligned to ``grid``."""
    room = extent - size
    if room <= 0:
        return 0
    offset = int(rng.integers(0, room + 1)) if rng is not None else room // 2
    return offset - offset % max(1, grid)


def augment(image: Image.Image, config, rng: np.random.Generator) -> Image.Image:
    """Training-time JPEG re-encoding and Gaussian blur, each with its probability (AugmentConfig)."""
    import io

    from PIL import ImageFilter

    if config.blur_p > 0 and rng.random() < config.blur_p:
        image = image.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(*config.blur_sigma))))
    if config.jpeg_p > 0 and rng.random() < config.jpeg_p:
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=int(rng.integers(config.jpeg_quality[0], config.jpeg_quality[1] + 1)))
        buffer.seek(0)
        image = Image.open(buffer).convert("RGB")
    return image


def to_input(image: Image.Image, config: PreprocessConfig) -> np.ndarray:
    """Inference input: [3, S, S], or [V, 3, S, S] when ``config.views`` > 1 (centre + corners, grid-aligned)."""
    if config.views <= 1 or config.mode != "crop":
        return to_array(image, config)
    size = config.image_size
    array = _pad_to(np.asarray(image, dtype=np.uint8), size)
    h, w = array.shape[:2]
    grid = max(1, config.grid)
    centre = (crop_offset(h, size, grid, None), crop_offset(w, size, grid, None))
    low = lambda extent: (extent - size) - (extent - size) % grid  # noqa: E731
    offsets = [centre, (0, 0), (0, low(w)), (low(h), 0), (low(h), low(w))][: config.views]
    views = [array[t : t + size, l : l + size] for t, l in offsets]
    return np.ascontiguousarray(np.stack(views).transpose(0, 3, 1, 2), dtype=np.float32) / 255.0


def to_array(image: Image.Image, config: PreprocessConfig, rng: np.random.Generator | None = None) -> np.ndarray:
    """RGB PIL image → float32 array [3, S, S] in [0, 1].

    ``rng`` None means inference (centre crop); a generator means training (random crop,
    of ``train_image_size`` when set).
    """
    size = config.image_size if rng is None or not config.train_image_size else config.train_image_size
    if config.mode == "resize":
        if image.size != (size, size):
            image = image.resize((size, size), _INTERPOLATION[config.interpolation])
        array = np.asarray(image, dtype=np.uint8)
    elif config.mode == "crop":
        array = _pad_to(np.asarray(image, dtype=np.uint8), size)
        h, w = array.shape[:2]
        top = crop_offset(h, size, config.grid, rng)
        left = crop_offset(w, size, config.grid, rng)
        array = array[top : top + size, left : left + size]
    else:
        raise ValueError(f"unknown preprocessing mode {config.mode!r}")
    return np.ascontiguousarray(array.transpose(2, 0, 1), dtype=np.float32) / 255.0
