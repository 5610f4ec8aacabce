"""Named training recipes: a recipe fills every option it names unless the user set it.

* ``thesis``: the thesis exactly (RGB resized to 256×256, EfficientNet's stride-2
  stem, no augmentation). Kept for the ``es*`` reproductions on GenImage.
* ``fingerprint``: for models trained with little compute (docs/zoo-benchmark.md):
  the neighbouring-pixel residual (NPR) as input, a stride-1 stem so the first
  block sees full resolution, 64-px training crops aligned to the 2×2
  up-sampling grid, 128-px centre crops at inference, and JPEG (p = 0.5,
  quality 60–100) and blur (p = 0.1) augmentation so traces survive recompression.
"""

from __future__ import annotations

from aidetect.errors import AidetectError

RECIPES: dict[str, dict] = {
    "thesis": dict(
        arch="efficientnet_b0", front_end="rgb", stem_stride=2, preprocess_mode="resize", image_size=256,
        grid=1, train_image_size=None, views=1, jpeg_p=0.0, blur_p=0.0,
    ),
    "fingerprint": dict(
        arch="efficientnet_b0", front_end="npr", stem_stride=1, preprocess_mode="crop", image_size=128,
        grid=2, train_image_size=64, views=1, jpeg_p=0.5, blur_p=0.1,
    ),
}


def apply_recipe(name: str, given: dict) -> dict:
    """``given`` holds the user's options (None = not given); returns them completed by the recipe."""
    if name not in RECIPES:
        raise AidetectError(f"unknown recipe {name!r}; choose one of {', '.join(RECIPES)}")
    merged = {key: value for key, value in given.items()}
    for key, value in RECIPES[name].items():
        if merged.get(key) is None:
            merged[key] = value
    # spectrum is a fixed feature: native pixels, no augmentation to fit statistics on.
    if merged.get("arch") == "spectrum" and given.get("preprocess_mode") is None:
        merged["preprocess_mode"] = "crop"
    merged["recipe"] = name
    return merged
