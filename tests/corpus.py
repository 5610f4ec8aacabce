"""A corpus of awkward and broken image files, written with PIL and numpy only.

Plain functions so any test module can reuse them::

    from corpus import make_bad_inputs, LABELS, EXPECTED_SIZES

``make_bad_inputs(folder)`` returns ``{key: path}``; ``LABELS[key]`` says
whether :func:`aidetect.data.images.load_image` must accept (``"good"``) or
refuse (``"bad"``) it, ``EXPECTED_SIZES[key]`` the (width, height) a good one
loads as.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

#: Every corpus key, labelled.
LABELS: dict[str, str] = {
    "zero_byte_jpg": "bad",
    "truncated_jpeg": "bad",
    "truncated_png": "bad",
    "text_named_jpg": "bad",
    "huge_header_png": "bad",  # header claims 30000x30000
    "cmyk_jpeg": "good",
    "png16_gradient": "good",
    "palette_transparency_png": "good",
    "greyscale_jpeg": "good",
    "greyscale_alpha_png": "good",
    "rgba_png": "good",
    "tiny_1x1_png": "good",
    "small_8x8_png": "good",
    "exif_rotated_jpeg": "good",
    "animated_gif": "good",
    "webp": "good",
    "tiff": "good",
    "bmp": "good",
    "unicode_spaced_png": "good",
}

GOOD = frozenset(k for k, v in LABELS.items() if v == "good")
BAD = frozenset(k for k, v in LABELS.items() if v == "bad")

#: (width, height) after loading; the EXIF one is stored 40x20, shown 20x40.
EXPECTED_SIZES: dict[str, tuple[int, int]] = {
    "cmyk_jpeg": (24, 16),
    "png16_gradient": (256, 4),
    "palette_transparency_png": (16, 8),
    "greyscale_jpeg": (32, 24),
    "greyscale_alpha_png": (12, 10),
    "rgba_png": (10, 12),
    "tiny_1x1_png": (1, 1),
    "small_8x8_png": (8, 8),
    "exif_rotated_jpeg": (20, 40),
    "animated_gif": (16, 16),
    "webp": (30, 20),
    "tiff": (20, 30),
    "bmp": (17, 13),
    "unicode_spaced_png": (9, 7),
}

HUGE_SIZE = (30000, 30000)
RED = (255, 0, 0)
BLUE = (0, 0, 255)
UNICODE_NAME = "ünïcode spaced.png"


def _noise(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def huge_header_png_bytes(width: int = HUGE_SIZE[0], height: int = HUGE_SIZE[1]) -> bytes:
    """A PNG whose IHDR (valid CRC) claims ``width x height`` 8-bit greyscale,
    followed by a tiny IDAT: a few hundred bytes on disk, nothing allocated."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # depth 8, colour type 0 (grey)
    idat = zlib.compress(b"\x00" * 64)  # far fewer rows than claimed
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def _exif_with_orientation(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def make_bad_inputs(folder: str | os.PathLike[str]) -> dict[str, Path]:
    """Write the corpus into ``folder`` (created if needed); return ``{key: path}``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}

    def path(key: str, name: str) -> Path:
        out[key] = folder / name
        return out[key]

    # --- bad -------------------------------------------------------------
    path("zero_byte_jpg", "zero_byte.jpg").write_bytes(b"")

    buf = io.BytesIO()
    _noise(64, 64, seed=1).save(buf, "JPEG", quality=95)
    data = buf.getvalue()
    path("truncated_jpeg", "truncated.jpg").write_bytes(data[: len(data) // 2])

    buf = io.BytesIO()
    _noise(64, 64, seed=2).save(buf, "PNG")
    data = buf.getvalue()
    path("truncated_png", "truncated.png").write_bytes(data[: len(data) // 2])

    path("text_named_jpg", "not_an_image.jpg").write_text(
        "<html><body>404 Not Found</body></html>\n", encoding="utf-8"
    )

    path("huge_header_png", "huge_header.png").write_bytes(huge_header_png_bytes())

    # --- good ------------------------------------------------------------
    Image.new("CMYK", EXPECTED_SIZES["cmyk_jpeg"], (0, 255, 255, 0)).save(
        path("cmyk_jpeg", "cmyk.jpg"), "JPEG", quality=95
    )

    w, h = EXPECTED_SIZES["png16_gradient"]
    row = np.linspace(0, 65535, w).round().astype(np.uint16)
    Image.fromarray(np.tile(row, (h, 1))).save(path("png16_gradient", "gradient16.png"), "PNG")

    w, h = EXPECTED_SIZES["palette_transparency_png"]
    pal = Image.new("P", (w, h), 0)
    palette = [0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (256 * 3 - 12)
    pal.putpalette(palette)
    pal.putdata([(x // 4) % 4 for y in range(h) for x in range(w)])
    # Several partly transparent entries: PIL stores them as a bytes tRNS,
    # the case that makes a naive convert("RGB") warn.
    pal.save(path("palette_transparency_png", "palette_trns.png"), "PNG", transparency=bytes([0, 128, 255, 64]))

    Image.new("L", EXPECTED_SIZES["greyscale_jpeg"], 128).save(path("greyscale_jpeg", "grey.jpg"), "JPEG")
    Image.new("LA", EXPECTED_SIZES["greyscale_alpha_png"], (200, 100)).save(
        path("greyscale_alpha_png", "grey_alpha.png"), "PNG"
    )
    Image.new("RGBA", EXPECTED_SIZES["rgba_png"], (10, 20, 30, 0)).save(path("rgba_png", "rgba.png"), "PNG")
    Image.new("RGB", (1, 1), (1, 2, 3)).save(path("tiny_1x1_png", "one.png"), "PNG")
    _noise(8, 8, seed=3).save(path("small_8x8_png", "eight.png"), "PNG")

    # Stored 40x20, left half red and right half blue, orientation 6 ("rotate
    # 90 degrees clockwise to display"): shown 20x40, red on top, blue below.
    stored = Image.new("RGB", (40, 20), BLUE)
    stored.paste(Image.new("RGB", (20, 20), RED), (0, 0))
    stored.save(path("exif_rotated_jpeg", "rotated.jpg"), "JPEG", quality=95, exif=_exif_with_orientation(6))

    size = EXPECTED_SIZES["animated_gif"]
    frames = [Image.new("RGB", size, RED), Image.new("RGB", size, BLUE)]
    frames[0].save(
        path("animated_gif", "animated.gif"), "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0
    )

    _noise(*EXPECTED_SIZES["webp"], seed=4).save(path("webp", "image.webp"), "WEBP", lossless=True)
    _noise(*EXPECTED_SIZES["tiff"], seed=5).save(path("tiff", "image.tiff"), "TIFF")
    _noise(*EXPECTED_SIZES["bmp"], seed=6).save(path("bmp", "image.bmp"), "BMP")
    _noise(*EXPECTED_SIZES["unicode_spaced_png"], seed=7).save(path("unicode_spaced_png", UNICODE_NAME), "PNG")

    assert set(out) == set(LABELS), set(out) ^ set(LABELS)
    return out


def make_symlink_loop(folder: str | os.PathLike[str]) -> Path:
    """A folder tree with a symlink back to its root and a self-referencing link.

    Layout (returns ``root``)::

        root/a.png
        root/sub/b.png
        root/sub/back -> ..          (loop to root)
        root/self_loop.jpg -> self_loop.jpg   (ELOOP when followed)
    """
    root = Path(folder) / "loop_root"
    (root / "sub").mkdir(parents=True)
    _noise(4, 4).save(root / "a.png")
    _noise(4, 4).save(root / "sub" / "b.png")
    os.symlink("..", root / "sub" / "back", target_is_directory=True)
    os.symlink("self_loop.jpg", root / "self_loop.jpg")
    return root


def make_unreadable(folder: str | os.PathLike[str]) -> dict[str, Path]:
    """A valid PNG and a folder (holding a valid PNG), both ``chmod 000``.

    Running as root, chmod 000 does not stop reading: check
    :func:`permissions_enforced` before relying on it.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / "unreadable.png"
    _noise(4, 4).save(file)
    directory = folder / "unreadable_dir"
    directory.mkdir()
    _noise(4, 4).save(directory / "inside.png")
    os.chmod(file, 0)
    os.chmod(directory, 0)
    return {"file": file, "dir": directory}


def permissions_enforced(path: str | os.PathLike[str]) -> bool:
    """Whether a ``chmod 000`` file really cannot be opened (False as root)."""
    try:
        with open(path, "rb"):
            return False
    except PermissionError:
        return True
