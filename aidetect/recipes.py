"""Named training recipes: typed presets of the encoder's architecture, preprocessing and augmentation.

A recipe fills every option it names unless the user set it.

* ``thesis``: the thesis exactly (RGB resized to 256×256, EfficientNet's stride-2
  stem, no augmentation): the configs' own defaults. Kept for the ``es*`` reproductions on GenImage.
* ``fingerprint``: for models trained with little compute (docs/zoo-benchmark.md):
  the neighbouring-pixel residual (NPR) as input, a stride-1 stem so the first
  block sees full resolution, 64-px training crops aligned to the 2×2
  up-sampling grid, 128-px centre crops at inference, and JPEG (p = 0.5,
  quality 60–100) and blur (p = 0.1) augmentation so traces survive recompression.
* ``welch``: the ``welch-mlp`` encoder (aidetect.models.encoder): a learned MLP over the 2-D
  Welch spectrum of the high-pass residual, read over 256-px crops (16 tiles of 64 px, both in
  training and at inference), with the fingerprint recipe's JPEG and blur augmentation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aidetect.config import FRONT_END_GRID, ArchitectureConfig, AugmentConfig, PreprocessConfig
from aidetect.errors import AidetectError

#: The options a recipe names, under their command-line names (``--arch`` … ``--blur-p``), and
#: where each lives: (config, field).
RECIPE_OPTIONS: dict[str, tuple[str, str]] = {
    "arch": ("architecture", "name"),
    "front_end": ("architecture", "front_end"),
    "stem_stride": ("architecture", "stem_stride"),
    "preprocess_mode": ("preprocess", "mode"),
    "image_size": ("preprocess", "image_size"),
    "grid": ("preprocess", "grid"),
    "train_image_size": ("preprocess", "train_image_size"),
    "views": ("preprocess", "views"),
    "jpeg_p": ("augment", "jpeg_p"),
    "blur_p": ("augment", "blur_p"),
    "resize_p": ("augment", "resize_p"),
    "webp_p": ("augment", "webp_p"),
}


@dataclass(frozen=True)
class Recipe:
    """The configs a recipe sets; of these, only the fields in :data:`RECIPE_OPTIONS` are applied."""

    name: str
    architecture: ArchitectureConfig = field(default_factory=ArchitectureConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def options(self) -> dict:
        """The recipe's values under their command-line names."""
        return {option: getattr(getattr(self, config), name) for option, (config, name) in RECIPE_OPTIONS.items()}


RECIPES: dict[str, Recipe] = {
    "thesis": Recipe("thesis"),
    "fingerprint": Recipe(
        "fingerprint",
        architecture=ArchitectureConfig(front_end="npr", stem_stride=1),
        preprocess=PreprocessConfig(image_size=128, mode="crop", grid=2, train_image_size=64),
        augment=AugmentConfig(jpeg_p=0.5, blur_p=0.1),
    ),
    "welch": Recipe(
        "welch",
        architecture=ArchitectureConfig(name="welch-mlp", front_end="rgb"),
        preprocess=PreprocessConfig(image_size=256, mode="crop", grid=1),
        augment=AugmentConfig(jpeg_p=0.5, blur_p=0.1),
    ),
}


def apply_recipe(name: str, given: dict) -> dict:
    """``given`` holds the user's options (None = not given); returns them completed by the recipe."""
    if name not in RECIPES:
        raise AidetectError(f"unknown recipe {name!r}; choose one of {', '.join(RECIPES)}")
    merged = {key: value for key, value in given.items()}
    for key, value in RECIPES[name].options().items():
        if merged.get(key) is None:
            merged[key] = value
    # A front-end that works on cells (npr-latent's 8×8) needs crops in phase with them: the grid is
    # raised to its cell unless the user gave one, and a grid out of phase is refused.
    needed = FRONT_END_GRID.get(merged.get("front_end") or "", 1)
    if needed > 1 and (merged.get("grid") or 1) % needed:
        if given.get("grid") is not None:
            raise AidetectError(f"--front-end {merged['front_end']} works on {needed}×{needed} cells: give --grid {needed} "
                                f"(or a multiple), not {given['grid']}")
        merged["grid"] = needed
    # spectrum is a fixed feature: native pixels, no augmentation to fit statistics on.
    if merged.get("arch") == "spectrum" and given.get("preprocess_mode") is None:
        merged["preprocess_mode"] = "crop"
    merged["recipe"] = name
    return merged
