"""Invisible watermarks in the pixels: the DWT-DCT marks that reference generation code embeds.

Stable Diffusion's reference scripts, diffusers' SDXL pipelines, Stability AI's
generative-models and Black Forest Labs' FLUX.1 reference code embed a fixed
message into every image with the ``invisible-watermark`` package
(``imwatermark``), method ``dwtDct``. :data:`KNOWN_WATERMARKS` lists them,
with where each is written. :func:`check_watermarks` decodes every one and
adds an ``ai-generated`` finding for each whose bits agree at least
:data:`MATCH_AGREEMENT` of the way.

The check runs when the ``watermark`` extra is installed
(``pip install 'aidetect[watermark]'``, which brings ``imwatermark`` with
OpenCV and PyWavelets). Without it the check is skipped silently:
``watermark_status`` says ``not-installed`` and nothing else changes.

How ``dwtDct`` works (imwatermark's ``EmbedMaxDct``, defaults): the image in
OpenCV's YUV, the U channel only (scale 36), one level of Haar DWT, the
approximation band cut into 4×4 blocks in row-major order; block *n* carries
bit *n* mod *L*. The encoder moves the block's largest-magnitude coefficient
(the first one excepted) to a quarter or three quarters of a 36-wide step;
the decoder reads that magnitude modulo 36 (above 18 is a 1) and each bit is
the majority over its blocks. This module decodes the same way, vectorised
(imwatermark's per-block Python loop takes seconds per megapixel);
tests/test_watermark.py checks it bit for bit against imwatermark's decoder.

A decode is a view of the pixels, three of them, as the writers embed:

* ``uint8 BGR``: the Stable Diffusion v1/v2 scripts encode the 8-bit image;
* ``float32 BGR``: diffusers, generative-models and FLUX encode a float image
  (0-255). OpenCV's float YUV centres U on 0.5, not 128, which changes the
  coefficient that is largest and its residue; decoding the saved 8-bit image
  as float32 reads it back;
* ``float32 RGB``: early diffusers SDXL releases passed RGB where imwatermark
  expects BGR.

A match is strong evidence (a random image agrees on about half the bits), but
the mark is fragile: JPEG re-compression, resizing, cropping and most edits
remove it, and even untouched outputs decode cleanly on only part of the
content (docs/provenance.md has the measured rates). Its absence proves nothing.
"""

from __future__ import annotations

import importlib.util
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from aidetect.provenance.vocabulary import AI_GENERATED, Collector, one_line

METHOD = "dwtDct"
#: Fraction of a mark's bits that must decode right for a match. An unmarked image agrees
#: on about half; the best of 317 photographs, over every mark and view, on 0.74 (docs/provenance.md).
MATCH_AGREEMENT = 0.9
#: imwatermark embeds only in images of at least 256×256 pixels (its encoder refuses smaller).
MIN_PIXELS = 256 * 256
#: Larger images are not decoded: the reference code writes at most a few megapixels
#: (an upscaled output has lost the mark anyway), and a camera photo would cost ~0.1 s per megapixel.
MAX_PIXELS = 2048 * 2048
#: imwatermark EmbedMaxDct defaults: scales [0, 36, 36] (only U is used: the loop stops before V), 4×4 blocks.
_SCALE = 36
_BLOCK = 4
VIEWS = ("uint8 BGR", "float32 BGR", "float32 RGB")


def _bits_of_bytes(data: bytes) -> tuple[int, ...]:
    """The bits imwatermark embeds for ``set_watermark('bytes', data)``: each byte, high bit first."""
    return tuple((byte >> (7 - i)) & 1 for byte in data for i in range(8))


def _bits_of_int(message: int) -> tuple[int, ...]:
    """``[int(bit) for bit in bin(message)[2:]]``, as the reference code writes it (leading zeros dropped)."""
    return tuple(int(bit) for bit in bin(message)[2:])


@dataclass(frozen=True)
class KnownWatermark:
    """One fixed message that reference generation code embeds."""

    name: str
    bits: tuple[int, ...]
    message: str  # how the writer states it
    made_by: str  # who embeds it, for the finding's detail


KNOWN_WATERMARKS: tuple[KnownWatermark, ...] = (
    KnownWatermark(
        "StableDiffusionV1", _bits_of_bytes(b"StableDiffusionV1"), "bytes 'StableDiffusionV1'",
        "the Stable Diffusion v1 reference scripts",
    ),
    KnownWatermark("SDV2", _bits_of_bytes(b"SDV2"), "bytes 'SDV2'", "the Stable Diffusion 2 reference scripts"),
    KnownWatermark(
        "SDXL", _bits_of_int(0b101100111110110010010000011110111011000110011110), "0xB3EC907BB19E",
        "SDXL in diffusers / generative-models",
    ),
    KnownWatermark(
        "FLUX.1", _bits_of_int(0b001010101111111010000111100111001111010100101110), "0x2AFE879CF52E",
        "the FLUX.1 reference code (Black Forest Labs)",
    ),
)


def _libraries():
    """(numpy, cv2) when the watermark extra is installed, else None."""
    try:
        # imwatermark itself is not imported: it imports torch (for its RivaGAN method,
        # ~2 s) and this module reproduces its decoder. Its presence is the switch.
        if importlib.util.find_spec("imwatermark") is None:
            return None
        # Here, not at the top: optional, and OpenCV's native library is slow to load.
        import cv2  # noqa: PLC0415
        import numpy as np  # noqa: PLC0415
    except Exception:  # noqa: BLE001 - ImportError, ValueError (sys.modules entry None), OSError (native library)
        return None
    return np, cv2


def watermark_available() -> bool:
    """Whether the invisible-watermark check runs (the ``watermark`` extra is installed)."""
    return _libraries() is not None


def block_bits(rgb, view: str):
    """The bit each 4×4 block of the Haar approximation of U carries, in imwatermark's order.

    ``rgb`` is an H×W×3 uint8 array; ``view`` one of :data:`VIEWS`.
    """
    return _block_bits(_require(), rgb, view)


def decode(bits_per_block, length: int):
    """The ``length`` message bits: the majority of the blocks that carry each (imwatermark's rule)."""
    return _decode(_require()[0], bits_per_block, length)


def agreements(rgb) -> dict[str, tuple[float, int, str]]:
    """For each known mark, its best view: (fraction of its bits decoded right, how many, the view)."""
    return _agreements(_require(), rgb)


def _require():
    libraries = _libraries()
    if libraries is None:
        raise ImportError("the invisible-watermark check needs the watermark extra: pip install 'aidetect[watermark]'")
    return libraries


def _block_bits(libraries, rgb, view: str):
    np, cv2 = libraries
    if view == "uint8 BGR":
        image = rgb[..., ::-1]
    elif view == "float32 BGR":
        image = rgb[..., ::-1].astype(np.float32)
    elif view == "float32 RGB":
        image = rgb.astype(np.float32)
    else:
        raise ValueError(f"unknown view {view!r}; one of {', '.join(VIEWS)}")
    rows, cols = image.shape[:2]
    image = np.ascontiguousarray(image[: rows // 4 * 4, : cols // 4 * 4])
    u = cv2.cvtColor(image, cv2.COLOR_BGR2YUV)[:, :, 1]
    # The Haar approximation band with pywt.dwt2's arithmetic (rows first, in the input's
    # float precision), so that it is bit for bit what imwatermark decodes.
    c = np.asarray(np.sqrt(0.5), dtype=np.float32 if u.dtype == np.float32 else np.float64)
    u = u.astype(c.dtype, copy=False)
    half = c * u[0::2] + c * u[1::2]
    approx = c * half[:, 0::2] + c * half[:, 1::2]
    n_rows, n_cols = approx.shape[0] // _BLOCK, approx.shape[1] // _BLOCK
    blocks = approx[: n_rows * _BLOCK, : n_cols * _BLOCK].reshape(n_rows, _BLOCK, n_cols, _BLOCK)
    blocks = np.abs(blocks.swapaxes(1, 2).reshape(n_rows * n_cols, _BLOCK * _BLOCK)[:, 1:])
    peak = blocks[np.arange(len(blocks)), blocks.argmax(axis=1)]
    return (peak % _SCALE) > 0.5 * _SCALE


def _decode(np, bits_per_block, length: int):
    index = np.arange(len(bits_per_block)) % length
    ones = np.bincount(index, weights=bits_per_block, minlength=length)
    count = np.bincount(index, minlength=length)
    return ones / np.maximum(count, 1) * 255 > 127


def _agreements(libraries, rgb) -> dict[str, tuple[float, int, str]]:
    np = libraries[0]
    per_view = {view: _block_bits(libraries, rgb, view) for view in VIEWS}
    result = {}
    for mark in KNOWN_WATERMARKS:
        expected = np.asarray(mark.bits, dtype=bool)
        best = (-1.0, 0, VIEWS[0])
        for view, blocks in per_view.items():
            agreeing = int((_decode(np, blocks, len(expected)) == expected).sum())
            if agreeing / len(expected) > best[0]:
                best = (agreeing / len(expected), agreeing, view)
        result[mark.name] = best
    return result


def check_watermarks(path: Path, col: Collector) -> tuple[str, dict | None]:
    """Decode the known marks from the image at ``path``; a finding per match. (status, summary)."""
    libraries = _libraries()
    if libraries is None:
        return "not-installed", None
    np, _ = libraries
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                width, height = im.size
                if width * height < MIN_PIXELS:
                    return "too-small", None
                if width * height > MAX_PIXELS:
                    return "too-large", None
                rgb = np.asarray(im.convert("RGB"))
    except Image.DecompressionBombError:
        return "too-large", None
    except Exception as exc:  # noqa: BLE001 - truncated or hostile pixel data: a note, never fatal
        col.notes.append(f"watermark: the pixels could not be decoded ({type(exc).__name__}: {one_line(str(exc), 120)})")
        return "error", None
    if (height // 8) * (width // 8) < max(len(mark.bits) for mark in KNOWN_WATERMARKS):
        return "too-small", None  # a sliver: fewer 4×4 blocks than message bits
    found = _agreements(libraries, rgb)
    matched = []
    for mark in KNOWN_WATERMARKS:
        fraction, agreeing, view = found[mark.name]
        if fraction >= MATCH_AGREEMENT:
            matched.append(mark.name)
            col.add(
                "watermark",
                mark.name,
                f"{agreeing} of {len(mark.bits)} bits of {mark.message} ({METHOD}, {view})",
                AI_GENERATED,
                f"invisible watermark of {mark.made_by}",
            )
    summary = {
        "method": METHOD,
        "threshold": MATCH_AGREEMENT,
        "agreement": {name: round(fraction, 4) for name, (fraction, _, _) in found.items()},
        "matched": matched,
    }
    return ("found" if matched else "none"), summary
