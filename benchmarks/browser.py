"""Headless-Chromium harness: render a local HTML file to PNG and tell a blank page from a drawn one.

Used by benchmarks/render_report.py and the report's browser test; not part of the package
(analysts never need it). Chromium: Debian's ``apt-get install -y chromium``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

CHROMIUM = "/usr/bin/chromium"


def chromium_path() -> str | None:
    """The Chromium binary: ``$AIDETECT_CHROMIUM``, /usr/bin/chromium, or chromium/chromium-browser on PATH."""
    for candidate in (os.environ.get("AIDETECT_CHROMIUM"), CHROMIUM, shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def screenshot_html(html_path: str | os.PathLike, png: str | os.PathLike, *, chromium: str | None = None, size: tuple[int, int] = (1200, 1600), timeout: float = 120) -> Path:
    """Render a local HTML file with headless Chromium (no network, throwaway profile) into ``png``."""
    binary = chromium or chromium_path()
    if binary is None:
        raise FileNotFoundError("Chromium is not installed (apt-get install -y chromium)")
    png = Path(png).resolve()
    url = Path(html_path).resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="aidetect-chromium-") as profile:
        command = [
            binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
            f"--user-data-dir={profile}", f"--screenshot={png}", f"--window-size={size[0]},{size[1]}", url,
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if not png.is_file():
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"Chromium wrote no screenshot (exit {result.returncode}): {' | '.join(tail)}")
    return png


def screenshot_stats(png: str | os.PathLike) -> dict:
    """How much a screenshot shows: pixel std, share of non-background pixels, distinct colours."""
    with Image.open(png) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    flat = pixels.reshape(-1, 3)
    values, counts = np.unique(flat, axis=0, return_counts=True)
    background = values[counts.argmax()]
    differs = np.abs(flat - background).sum(axis=1) > 24
    return {
        "width": int(pixels.shape[1]),
        "height": int(pixels.shape[0]),
        "std": float(pixels.std()),
        "content_share": float(differs.mean()),
        "colours": int(len(values)),
    }


def looks_blank(stats: dict) -> bool:
    """True when a screenshot is (nearly) one colour: nothing was rendered."""
    return stats["std"] < 5.0 or stats["content_share"] < 0.02 or stats["colours"] < 16
