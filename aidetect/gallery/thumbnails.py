"""Small lossless thumbnails stored beside a gallery's rows: made from an image, kept as PNG bytes.

A thumbnail is the image's centre square (the largest one), resized to
:data:`THUMBNAIL_SIZE` pixels a side with Lanczos filtering, 8-bit RGB, stored as PNG (lossless).
On ~100 zoo images a 64×64 PNG took 8.3 KB on average against 12.3 KB for the raw
uint8 array (see docs/promises.md), so the gallery keeps PNG bytes, one per row.

No torch: PIL and numpy only. Files are read through :func:`aidetect.data.images.load_image`,
which refuses decompression bombs; PNG bytes read back from a gallery are checked against
:data:`MAX_THUMBNAIL_SIDE` before any pixel is decoded.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable

import numpy as np
from PIL import Image

from aidetect.data.images import load_image
from aidetect.errors import AidetectError, ImageReadError

__all__ = [
    "THUMBNAIL_SIZE",
    "MAX_THUMBNAIL_SIDE",
    "PNG_SIGNATURE",
    "thumbnail_from_image",
    "make_thumbnail",
    "thumbnails_for",
    "encode_png",
    "decode_png",
    "thumbnail_png",
]

#: Side of the thumbnails aidetect makes (pixels).
THUMBNAIL_SIZE = 64
#: Largest side a stored thumbnail may have; bigger ones are refused when added and when decoded.
MAX_THUMBNAIL_SIDE = 256
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def thumbnail_from_image(image, size: int = THUMBNAIL_SIZE) -> np.ndarray:
    """uint8 [size, size, 3]: the centre square of ``image`` (a PIL image or an HxWx3 array), resized."""
    size = int(size)
    if not 1 <= size <= MAX_THUMBNAIL_SIDE:
        raise AidetectError(f"A thumbnail side must lie in 1..{MAX_THUMBNAIL_SIDE} pixels, not {size}.")
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or 0 in image.shape:
            raise AidetectError(
                f"An image to make a thumbnail from must be a uint8 [height, width, 3] RGB array, not "
                f"{image.dtype} of shape {tuple(image.shape)}."
            )
        image = Image.fromarray(np.ascontiguousarray(image))
    if image.mode != "RGB":
        image = image.convert("RGB")
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    square = image.crop((left, top, left + side, top + side))
    if square.size != (size, size):
        square = square.resize((size, size), Image.LANCZOS)
    return np.asarray(square, dtype=np.uint8).copy()


def make_thumbnail(path: str | os.PathLike, size: int = THUMBNAIL_SIZE) -> np.ndarray:
    """uint8 [size, size, 3] thumbnail of the image file ``path`` (read safely; raises ImageReadError)."""
    return thumbnail_from_image(load_image(path), size)


def thumbnails_for(paths: Iterable[str | os.PathLike], size: int = THUMBNAIL_SIZE) -> list[np.ndarray | None]:
    """One thumbnail per path, None where the file cannot be read (it was reported when embedded)."""
    out: list[np.ndarray | None] = []
    for path in paths:
        try:
            out.append(make_thumbnail(path, size))
        except ImageReadError:
            out.append(None)
    return out


def _as_rgb_array(array: np.ndarray) -> np.ndarray:
    a = np.asarray(array)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
        raise AidetectError(
            f"A thumbnail must be a uint8 [height, width, 3] RGB array, not {a.dtype} of shape {tuple(a.shape)}; "
            "make it with aidetect.gallery.thumbnails.make_thumbnail."
        )
    if not (1 <= a.shape[0] <= MAX_THUMBNAIL_SIDE and 1 <= a.shape[1] <= MAX_THUMBNAIL_SIDE):
        raise AidetectError(
            f"A thumbnail of {a.shape[1]}×{a.shape[0]} pixels is larger than the {MAX_THUMBNAIL_SIDE}-pixel limit; "
            f"make it with aidetect.gallery.thumbnails.make_thumbnail (64×64)."
        )
    return np.ascontiguousarray(a)


def encode_png(array: np.ndarray) -> bytes:
    """Lossless PNG bytes of a uint8 [H, W, 3] array (H, W <= MAX_THUMBNAIL_SIDE)."""
    buffer = io.BytesIO()
    Image.fromarray(_as_rgb_array(array)).save(buffer, format="PNG")
    return buffer.getvalue()


def decode_png(data: bytes, max_side: int = MAX_THUMBNAIL_SIDE) -> np.ndarray:
    """uint8 [H, W, 3] from PNG bytes; refuses non-PNG data and images larger than ``max_side``."""
    if not bytes(data[:8]) == PNG_SIGNATURE:
        raise AidetectError("The thumbnail is not PNG data; re-add the images with thumbnails made by aidetect.")
    try:
        with Image.open(io.BytesIO(bytes(data)), formats=["PNG"]) as image:
            width, height = image.size
            if width > max_side or height > max_side:
                raise AidetectError(
                    f"The thumbnail claims {width}×{height} pixels, more than the {max_side}-pixel limit; it was not decoded."
                )
            image.load()
            return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
    except AidetectError:
        raise
    except Exception as exc:  # truncated or damaged PNG: one line, never a traceback
        raise AidetectError(f"The thumbnail cannot be decoded ({type(exc).__name__}: {exc}).") from None


def thumbnail_png(value) -> bytes:
    """PNG bytes for a thumbnail given as an array, a PIL image or PNG bytes (checked by decoding)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        decode_png(data)  # refuses anything that is not a small PNG
        return data
    if isinstance(value, Image.Image):
        return encode_png(np.asarray(value.convert("RGB"), dtype=np.uint8))
    return encode_png(np.asarray(value))
