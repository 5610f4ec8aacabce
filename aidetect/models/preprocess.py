"""The one place where an image becomes the encoder's input.

The recipe lives in the model's :class:`~aidetect.config.PreprocessConfig`,
so training and inference apply exactly the same steps. Pixels are scaled to
[0, 1] as in the thesis; no mean/std normalisation.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from aidetect.config import MAX_DEFAULT_TILES, TILE_PIXEL_BUDGET, PreprocessConfig

_INTERPOLATION = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


def resample_filter(interpolation: str) -> Image.Resampling:
    """PIL's filter for a :class:`PreprocessConfig` interpolation name."""
    return _INTERPOLATION[interpolation]


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
    """Training-time downscaling, Gaussian blur and JPEG or WebP re-encoding, each with its probability
    (AugmentConfig), in the order images meet them on their way to an analyst: resampled by a
    platform, then compressed."""
    from PIL import ImageFilter

    # A probability of 0 draws nothing, so adding an option leaves older recipes' draws unchanged.
    if config.resize_p > 0 and rng.random() < config.resize_p:
        factor = float(rng.uniform(*config.resize_scale))
        w, h = image.size
        image = image.resize((max(1, round(w * factor)), max(1, round(h * factor))), Image.Resampling.BICUBIC)
    if config.blur_p > 0 and rng.random() < config.blur_p:
        image = image.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(*config.blur_sigma))))
    # One draw picks the format (JPEG, else WebP, else neither), as the `wild` test chains do;
    # with webp_p = 0 it is the one JPEG draw older recipes made.
    if config.jpeg_p > 0 or config.webp_p > 0:
        draw = rng.random()
        if draw < config.jpeg_p:
            image = _reencoded(image, "JPEG", int(rng.integers(config.jpeg_quality[0], config.jpeg_quality[1] + 1)))
        elif draw < config.jpeg_p + config.webp_p:
            image = _reencoded(image, "WEBP", int(rng.integers(config.webp_quality[0], config.webp_quality[1] + 1)))
    return image


def _reencoded(image: Image.Image, format: str, quality: int) -> Image.Image:
    """The image as it reads back after lossy saving in ``format`` at ``quality``."""
    import io

    buffer = io.BytesIO()
    image.save(buffer, format=format, quality=quality)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def _scaled(array: np.ndarray, as_uint8: bool) -> np.ndarray:
    """[.., H, W, 3] uint8 → channels first, as float32 in [0, 1] or (``as_uint8``) as it is, for
    the device to scale: a quarter of the bytes to move, and x / 255 in float32 is the same
    correctly rounded number on either side."""
    axes = (0, 3, 1, 2) if array.ndim == 4 else (2, 0, 1)
    if as_uint8:
        return np.ascontiguousarray(array.transpose(axes))
    return np.ascontiguousarray(array.transpose(axes), dtype=np.float32) / 255.0


def to_input(image: Image.Image, config: PreprocessConfig, *, as_uint8: bool = False) -> np.ndarray:
    """Inference input: [3, S, S], or [V, 3, S, S] when ``config.views`` > 1 (centre + corners, grid-aligned)."""
    if config.views <= 1 or config.mode != "crop":
        return to_array(image, config, as_uint8=as_uint8)
    size = config.image_size
    array = _pad_to(np.asarray(image, dtype=np.uint8), size)
    h, w = array.shape[:2]
    grid = max(1, config.grid)
    centre = (crop_offset(h, size, grid, None), crop_offset(w, size, grid, None))
    low = lambda extent: (extent - size) - (extent - size) % grid  # noqa: E731
    offsets = [centre, (0, 0), (0, low(w)), (low(h), 0), (low(h), low(w))][: config.views]
    views = [array[t : t + size, l : l + size] for t, l in offsets]
    return _scaled(np.stack(views), as_uint8)


def to_array(image: Image.Image, config: PreprocessConfig, rng: np.random.Generator | None = None, *,
             as_uint8: bool = False) -> np.ndarray:
    """RGB PIL image → float32 array [3, S, S] in [0, 1] (uint8 0..255 with ``as_uint8``).

    ``rng`` None means inference (centre crop); a generator means training (random crop,
    of ``train_image_size`` when set).
    """
    size = config.image_size if rng is None or not config.train_image_size else config.train_image_size
    if config.mode == "resize":
        if image.size != (size, size):
            image = image.resize((size, size), resample_filter(config.interpolation))
        array = np.asarray(image, dtype=np.uint8)
    elif config.mode == "crop":
        array = _pad_to(np.asarray(image, dtype=np.uint8), size)
        h, w = array.shape[:2]
        top = crop_offset(h, size, config.grid, rng)
        left = crop_offset(w, size, config.grid, rng)
        array = array[top : top + size, left : left + size]
    else:
        raise ValueError(f"unknown preprocessing mode {config.mode!r}")
    return _scaled(array, as_uint8)




def default_max_tiles(size: int) -> int:
    """Tiles of ``size`` px that fit config.TILE_PIXEL_BUDGET (16 at 256, 64 at 128), at most
    config.MAX_DEFAULT_TILES; a model whose input alone exceeds the budget reads one tile."""
    return min(MAX_DEFAULT_TILES, max(1, TILE_PIXEL_BUDGET // max(1, size * size)))


def _tile_starts(extent: int, size: int, count: int, grid: int) -> list[int]:
    """``count`` offsets spread evenly from 0 to ``extent - size``, aligned down to ``grid``."""
    room = max(0, extent - size)
    if count <= 1 or room == 0:
        return [crop_offset(extent, size, grid, None)]
    starts = [round(i * room / (count - 1)) for i in range(count)]
    return sorted({s - s % max(1, grid) for s in starts})


def tile_boxes(height: int, width: int, size: int, grid: int = 1, max_tiles: int | None = None) -> list[tuple[int, int, int, int]]:
    """(top, left, bottom, right) of the S×S tiles that analyse an image at native resolution.

    Enough tiles per side to cover the image (a lattice spread evenly from edge to edge, so
    neighbouring tiles overlap a little); when that needs more than ``max_tiles``, the lattice
    keeps the image's aspect with at most ``max_tiles`` tiles, spread evenly from edge to edge,
    and the gaps between them are not analysed. Boxes are clipped to the image (a smaller image
    is one tile, reflection-padded to S). ``max_tiles`` None: :func:`default_max_tiles`.
    """
    if max_tiles is None:
        max_tiles = default_max_tiles(size)
    rows = max(1, -(-height // size))
    cols = max(1, -(-width // size))
    while rows * cols > max(1, max_tiles):
        # drop a tile from the side with more of them (relative to its extent)
        if rows / max(1, height) * size >= cols / max(1, width) * size and rows > 1:
            rows -= 1
        elif cols > 1:
            cols -= 1
        else:
            rows -= 1
    tops = _tile_starts(height, size, rows, grid)
    lefts = _tile_starts(width, size, cols, grid)
    return [(t, l, min(height, t + size), min(width, l + size)) for t in tops for l in lefts]


def covered_fraction(height: int, width: int, boxes: list[tuple[int, int, int, int]]) -> float:
    """Share of the image's pixels inside at least one box (the boxes form a lattice)."""
    def union(intervals):
        total, end = 0, -1
        for a, b in sorted(intervals):
            if b > end:
                total += b - max(a, end)
                end = b
        return total

    rows = union({(b[0], b[2]) for b in boxes})
    cols = union({(b[1], b[3]) for b in boxes})
    return float(rows * cols) / float(max(1, height * width))


def to_tiles(image: Image.Image, config: PreprocessConfig, max_tiles: int | None = None):
    """The whole image as encoder inputs: ([T, 3, S, S] float32 in [0, 1], boxes, covered fraction).

    ``resize`` mode already sees the whole image (resampled): one tile. ``crop`` mode: the
    tiles of :func:`tile_boxes` at native resolution (``views`` does not apply: tiles cover more),
    at most ``max_tiles`` of them (None: as many as the pixel budget allows, :func:`default_max_tiles`).
    """
    width, height = image.size
    if max_tiles is None:
        max_tiles = default_max_tiles(config.image_size)
    if config.mode != "crop" or max_tiles <= 1:
        array = to_array(image, config)
        if config.mode == "crop":
            size = config.image_size
            top, left = crop_offset(height, size, config.grid, None), crop_offset(width, size, config.grid, None)
            box = (top, left, min(height, top + size), min(width, left + size))
        else:
            box = (0, 0, height, width)
        return array[None], [box], covered_fraction(height, width, [box])
    size = config.image_size
    boxes = tile_boxes(height, width, size, config.grid, max_tiles)
    array = _pad_to(np.asarray(image, dtype=np.uint8), size)
    tiles = np.stack([array[t : t + size, l : l + size] for t, l, _, _ in boxes])
    return np.ascontiguousarray(tiles.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0, boxes, covered_fraction(height, width, boxes)
