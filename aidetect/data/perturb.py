"""Perturbations applied to test images before embedding: how analysts' images really arrive.

A spec is ``kind:value`` and specs combine with ``+`` or commas, applied left to right:

* ``jpeg:Q``   re-encode as JPEG at quality Q (1–100);
* ``resize:F`` rescale by factor F (bicubic), e.g. 0.5;
* ``crop:S``   centre crop to S×S pixels (no-op when the image is smaller);
* ``blur:S``   Gaussian blur with radius S pixels.

Every step is deterministic, so cached embeddings of a perturbed file stay valid.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageFilter

from aidetect.errors import AidetectError

KINDS = ("jpeg", "resize", "crop", "blur")


@dataclass(frozen=True)
class Perturbation:
    steps: tuple[tuple[str, float], ...]

    @property
    def key(self) -> str:
        """Canonical text of the spec (``clean`` for none); used in cache keys and reports."""
        return "+".join(f"{kind}:{value:g}" for kind, value in self.steps) or "clean"

    def __call__(self, image: Image.Image) -> Image.Image:
        for kind, value in self.steps:
            if kind == "jpeg":
                buffer = io.BytesIO()
                image.save(buffer, format="JPEG", quality=int(value))
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


def parse_perturbation(spec: str | None) -> Perturbation:
    if not spec or spec == "clean":
        return CLEAN
    steps = []
    for part in spec.replace(",", "+").split("+"):
        kind, _, value = part.strip().partition(":")
        if kind not in KINDS:
            raise AidetectError(f"--perturb {spec!r}: unknown kind {kind!r}; use jpeg:Q, resize:F, crop:S or blur:S")
        try:
            number = float(value)
        except ValueError:
            raise AidetectError(f"--perturb {spec!r}: {kind} needs a number, e.g. {kind}:{ {'jpeg': 75, 'resize': 0.5, 'crop': 224, 'blur': 1}[kind] }") from None
        if (kind == "jpeg" and not 1 <= number <= 100) or number <= 0:
            raise AidetectError(f"--perturb {spec!r}: {kind}:{value} is out of range")
        steps.append((kind, number))
    return Perturbation(tuple(steps))
