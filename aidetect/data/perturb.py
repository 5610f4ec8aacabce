"""Perturbations applied to test images before embedding: how analysts' images really arrive.

A spec is ``kind:value`` and specs combine with ``+`` or commas, applied left to right:

* ``jpeg:Q``   re-encode as JPEG at quality Q (1–100);
* ``webp:Q``   re-encode as lossy WebP at quality Q (1–100);
* ``resize:F`` rescale by factor F (bicubic), e.g. 0.5;
* ``crop:S``   centre crop to S×S pixels (no-op when the image is smaller);
* ``blur:S``   Gaussian blur with radius S pixels.

``wild`` (or ``wild:SEED``) draws one chain per image, the way images travel through
messaging apps and social platforms (:class:`WildConditions` documents the distribution).

Every step is deterministic, so cached embeddings of a perturbed file stay valid; ``wild``
seeds each image's draw from its pixels and the seed, so the same file always gets the same chain.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from aidetect.errors import AidetectError

KINDS = ("jpeg", "webp", "resize", "crop", "blur")


@dataclass(frozen=True)
class Perturbation:
    steps: tuple[tuple[str, float], ...]

    @property
    def key(self) -> str:
        """Canonical text of the spec (``clean`` for none); used in cache keys and reports."""
        return "+".join(f"{kind}:{value:g}" for kind, value in self.steps) or "clean"

    def __call__(self, image: Image.Image) -> Image.Image:
        for kind, value in self.steps:
            if kind in ("jpeg", "webp"):
                buffer = io.BytesIO()
                image.save(buffer, format=kind.upper(), quality=int(value))
                buffer.seek(0)
                image = Image.open(buffer).convert("RGB")
            elif kind == "resize":
                w, h = image.size
                image = image.resize((max(1, round(w * value)), max(1, round(h * value))), Image.Resampling.BICUBIC)
            elif kind == "crop":
                size = int(value)
                w, h = image.size
                if w > size or h > size:
                    left, top = max(0, (w - size) // 2), max(0, (h - size) // 2)
                    image = image.crop((left, top, left + min(size, w), top + min(size, h)))
            elif kind == "blur":
                image = image.filter(ImageFilter.GaussianBlur(radius=value))
        return image


CLEAN = Perturbation(())


@dataclass(frozen=True)
class WildConditions:
    """One seeded chain per image, as images travel through messaging apps and social platforms.

    Drawn per image, in this order (probabilities independent):

    * crop (p = 0.25): a centre crop keeping 80–95 % of each side (a reframed screenshot or share);
    * resize (p = 0.5): by a factor drawn from 0.5–0.9 (platform downscaling, thumbnails);
    * format: JPEG (p = 0.7) at quality 65–95, else lossy WebP (p = 0.2 of all) at quality
      60–90, else left lossless (p = 0.1);
    * a second JPEG (p = 0.3) at quality 70–90 (shared again after a first recompression).

    Ranges are uniform; qualities are integers. The draw is seeded by the image's pixels and
    ``seed``, so it is reproducible and independent of file names and of the order of images.
    ``chain(image)`` gives the drawn steps (reports show their distribution).
    """

    seed: int = 0

    @property
    def key(self) -> str:
        return f"wild:{self.seed}"

    @property
    def steps(self) -> tuple:
        return (("wild", float(self.seed)),)  # not empty: the dataset applies it

    def chain(self, image: Image.Image) -> Perturbation:
        digest = hashlib.sha256(image.tobytes()).digest()
        rng = np.random.default_rng([self.seed, int.from_bytes(digest[:8], "little")])
        steps: list[tuple[str, float]] = []
        if rng.random() < 0.25:
            side = min(image.size)
            steps.append(("crop", float(max(1, round(side * rng.uniform(0.80, 0.95))))))
        if rng.random() < 0.5:
            steps.append(("resize", round(float(rng.uniform(0.5, 0.9)), 3)))
        fmt = rng.random()
        if fmt < 0.7:
            steps.append(("jpeg", float(rng.integers(65, 96))))
        elif fmt < 0.9:
            steps.append(("webp", float(rng.integers(60, 91))))
        if rng.random() < 0.3:
            steps.append(("jpeg", float(rng.integers(70, 91))))
        return Perturbation(tuple(steps))

    def __call__(self, image: Image.Image) -> Image.Image:
        return self.chain(image)(image)


def parse_perturbation(spec: str | None) -> Perturbation | WildConditions:
    if not spec or spec == "clean":
        return CLEAN
    if spec == "wild" or spec.startswith("wild:"):
        _, _, seed = spec.partition(":")
        try:
            return WildConditions(int(seed) if seed else 0)
        except ValueError:
            raise AidetectError(f"--perturb {spec!r}: wild takes an integer seed, e.g. wild:0") from None
    steps = []
    for part in spec.replace(",", "+").split("+"):
        kind, _, value = part.strip().partition(":")
        if kind not in KINDS:
            raise AidetectError(f"--perturb {spec!r}: unknown kind {kind!r}; use jpeg:Q, webp:Q, resize:F, crop:S, blur:S or wild")
        try:
            number = float(value)
        except ValueError:
            raise AidetectError(f"--perturb {spec!r}: {kind} needs a number, e.g. {kind}:{ {'jpeg': 75, 'webp': 80, 'resize': 0.5, 'crop': 224, 'blur': 1}[kind] }") from None
        if (kind in ("jpeg", "webp") and not 1 <= number <= 100) or number <= 0:
            raise AidetectError(f"--perturb {spec!r}: {kind}:{value} is out of range")
        steps.append((kind, number))
    return Perturbation(tuple(steps))
