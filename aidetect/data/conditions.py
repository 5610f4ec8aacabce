"""The conditions an image arrives in: container, JPEG quality, size against the model's input.

Read from the file's header (no pixels decoded) so every record can say under which
conditions its verdict was made, and warn where the model card measured a drop.
The JPEG quality is estimated from the luminance quantisation table: the quality q of the
IJG/libjpeg scaling of the standard table (Annex K) that is nearest to it; tables that no
quality reproduces exactly (camera or editor tables) are reported as approximate.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
from PIL import Image

# ITU-T T.81 Annex K luminance table, natural (row-major) order, as Pillow reports it.
_STANDARD_LUMINANCE = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
], dtype=np.float64)
#: Below this estimated quality the bundled model's card measured a large drop (JPEG 75).
LOW_JPEG_QUALITY = 90


def _ijg_table(quality: int) -> np.ndarray:
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality  # libjpeg: integer arithmetic
    return np.clip(np.floor((_STANDARD_LUMINANCE * scale + 50.0) / 100.0), 1, 255)


_IJG_TABLES = {q: _ijg_table(q) for q in range(1, 101)}


def estimate_jpeg_quality(luminance_table) -> tuple[int, bool]:
    """(quality 1–100, exact) for a 64-entry luminance quantisation table."""
    table = np.asarray(luminance_table, dtype=np.float64).reshape(-1)[:64]
    errors = {q: float(np.abs(t - table).sum()) for q, t in _IJG_TABLES.items()}
    best = min(errors, key=lambda q: (errors[q], -q))
    return best, errors[best] == 0.0


def read_conditions(path: str | os.PathLike, input_size: int | None = None) -> dict:
    """``{"container", "width", "height", "jpeg_quality", "jpeg_quality_exact", "smaller_than_input",
    "notes"}`` from the header; ``{"container": None, ...}`` when the header cannot be read
    (the image reader reports that file's error itself)."""
    info: dict = {"container": None, "width": None, "height": None, "jpeg_quality": None,
                  "jpeg_quality_exact": None, "smaller_than_input": None, "notes": []}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(os.fsdecode(os.fspath(path))) as image:
                info.update(container=image.format, width=image.width, height=image.height)
                tables = getattr(image, "quantization", None)
    except Exception:  # noqa: BLE001 - the decoder's own error is reported by load_image
        return info
    if info["container"] == "JPEG" and tables:
        quality, exact = estimate_jpeg_quality(tables[min(tables)])
        info.update(jpeg_quality=quality, jpeg_quality_exact=exact)
        if quality < LOW_JPEG_QUALITY:
            info["notes"].append(
                f"JPEG at quality ~{quality}: recompression removes the traces the model relies on; "
                "its card measured a large drop at quality 75"
            )
    if input_size and info["width"] and info["height"]:
        small = info["width"] < input_size or info["height"] < input_size
        info["smaller_than_input"] = small
        if small:
            info["notes"].append(f"smaller than the model's {input_size}-px input: reflection-padded, fewer pixels of evidence")
    return info
