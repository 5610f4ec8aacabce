"""The example images shipped in aidetect/bundled/examples (used by the README and a test).

    python benchmarks/zoo/make_examples.py --zoo /work/zoo

Five test-split images of the zoo, one of them a `taesd-sdxl` latent-decoder reconstruction (no
photo of the test split feeds training), and
`sd-parameters.png`: the real example with a Stable Diffusion (A1111) `parameters`
text chunk added, to show how aidetect reports metadata that disagrees with the model.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from PIL import Image, PngImagePlugin

OUT = Path(__file__).resolve().parents[2] / "aidetect" / "bundled" / "examples"
CLASSES = ("real", "realesrgan-x4", "style-transfer", "cdcgan-eyes", "taesd-sdxl")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zoo", required=True)
    parser.add_argument("--index", type=int, default=7, help="which test image of each class (sorted by name)")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    for name in CLASSES:
        source = sorted((Path(args.zoo) / "test" / name).glob("*.png"))[args.index]
        shutil.copyfile(source, OUT / f"{name}.png")
        print(f"{OUT / f'{name}.png'} <- {source}")
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a photograph of a harbour at dusk\nSteps: 25, Sampler: Euler a, CFG scale: 7, "
                                "Seed: 1234, Size: 512x512, Model: v1-5-pruned-emaonly")
    Image.open(OUT / "real.png").save(OUT / "sd-parameters.png", pnginfo=info)
    print(f"{OUT / 'sd-parameters.png'} <- real.png with an A1111 parameters chunk")


if __name__ == "__main__":
    main()
