"""Does an image come back unchanged through a latent autoencoder? A no-training detector of the zoo's
latent-decoder classes, read per autoencoder.

    python benchmarks/zoo/reconstruction_probe.py ZOO_ROOT [--taesd-dir DIR] [--per-class 40]
        [--condition clean|jpeg:75|wild] [--json OUT.json]

Each test image of ``real`` and of the five ``taesd-*`` classes is encoded and decoded by each of the
five tiny autoencoders (benchmarks/zoo/zoo_taesd.py) and scored by the mean squared error of the
reconstruction over its interior (an 8-px border left out: every image reconstructs worse at the
edges). An image a decoder made already lies on that decoder's outputs, so it should come back
closer than a photograph does (the idea behind AEROBLADE, Ricker et al., CVPR 2024, which uses the
generator's own autoencoder and a perceptual distance). The table is the detection AUC of real
against each generator with the error as the score (lower error = AI), one row per autoencoder.

What it answers for the encoder issue: whether "lies on a latent decoder's outputs" is a trace
that carries from one decoder to another (then the seen decoders would reveal the unseen ones, and
an encoder could learn it), or one that only the generating decoder itself shows. The diagonal is
the generating autoencoder; off the diagonal, another one.

The first N files of each class in name order are used (the same windows in every class: the
zoo's generator classes are made from the real test windows). Under a perturbation that changes
the size (``wild``), each image is cropped to sides that are multiples of 8, as the autoencoders
need. CPU, one thread is enough; about 1 s per image and autoencoder at 256 px here.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from aidetect.errors import AidetectError  # noqa: E402
from aidetect.fileio import atomic_write_json  # noqa: E402
from aidetect.settings import REAL  # noqa: E402
from probe_inputs import parse_probe_args, probe_inputs, probe_parser  # noqa: E402

BORDER = 8  # pixels left out on every side of the error (edges reconstruct worse for every image)
DEFAULT_TAESD = Path(__file__).resolve().parents[3] / "shared" / "data" / "taesd"


def parse_args(argv=None) -> argparse.Namespace:
    parser = probe_parser(__doc__, per_class=40)
    parser.add_argument("--taesd-dir", type=Path, default=DEFAULT_TAESD, help="the folder of the TAESD weights and SHA256SUMS")
    return parse_probe_args(parser, argv)


def interior_error(image, reconstruction) -> float:
    """Mean squared error over the interior of two [1, 3, H, W] tensors in [0, 1]."""
    difference = (reconstruction.clamp(0, 1) - image)[..., BORDER:-BORDER, BORDER:-BORDER]
    return float((difference**2).mean())


def detection_aucs(errors: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, float]]:
    """errors[class][autoencoder] -> one error per image; AUC[autoencoder][generator] of real against
    that generator, lower error scoring as AI-generated."""
    table: dict[str, dict[str, float]] = {}
    for autoencoder in errors[REAL]:
        real = np.asarray(errors[REAL][autoencoder])
        table[autoencoder] = {}
        for generator, per_autoencoder in errors.items():
            if generator == REAL:
                continue
            fake = np.asarray(per_autoencoder[autoencoder])
            labels = np.r_[np.zeros(len(real)), np.ones(len(fake))]
            table[autoencoder][generator] = float(roc_auc_score(labels, -np.r_[real, fake]))
    return table


def load_image(path: Path, perturb):
    """[1, 3, H, W] float tensor in [0, 1], perturbed, cropped to sides that are multiples of 8."""
    import torch
    from PIL import Image

    try:
        with Image.open(path) as opened:
            image = perturb(opened.convert("RGB"))
    except OSError as error:
        raise AidetectError(f"{path}: not a readable image ({error}); rebuild that class of the zoo") from None
    pixels = np.asarray(image)
    height, width = (pixels.shape[0] // 8) * 8, (pixels.shape[1] // 8) * 8
    if min(height, width) <= 2 * BORDER:
        raise AidetectError(f"{path}: {pixels.shape[1]}x{pixels.shape[0]} is too small for the probe (it needs sides "
                            f"over {2 * BORDER} px after --condition); use a zoo of 256-px windows or a milder condition")
    pixels = np.array(pixels[:height, :width])  # a writable copy for torch
    return torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 255.0


def main(argv=None) -> int:
    import torch
    import zoo_taesd

    args = parse_args(argv)
    classes = [REAL, *zoo_taesd.PAIRS]
    try:
        perturb, files = probe_inputs(args, classes)
    except AidetectError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        autoencoders = {name: zoo_taesd.TinyAutoencoder(args.taesd_dir, name) for name in zoo_taesd.PAIRS}
    except (OSError, zoo_taesd.WeightsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    errors = {c: {a: [] for a in autoencoders} for c in classes}
    for c in classes:
        for path in files[c]:
            try:
                image = load_image(path, perturb)
            except AidetectError as error:  # load_image turns an unreadable file into one
                # every class must score the same windows, so a bad file stops the probe
                print(f"error: {error}", file=sys.stderr)
                return 2
            for name, autoencoder in autoencoders.items():
                errors[c][name].append(interior_error(image, autoencoder.reconstruct_float(image)))
    table = detection_aucs(errors)
    generators = classes[1:]
    print(f"Detection AUC of real against each latent decoder, score = -reconstruction error ({perturb.key}, "
          f"{min(len(f) for f in files.values())} images per class); rows: the autoencoder used\n")
    print("| autoencoder | " + " | ".join(generators) + " |")
    print("|---" * (len(generators) + 1) + "|")
    for name in autoencoders:
        cells = [(f"**{table[name][g]:.3f}**" if g == name else f"{table[name][g]:.3f}") for g in generators]
        print(f"| {name} | " + " | ".join(cells) + " |")
    if args.json:
        atomic_write_json(args.json, {"condition": perturb.key, "files": {c: [p.name for p in f] for c, f in files.items()},
                                      "errors": errors, "auc": table})
    return 0


if __name__ == "__main__":
    sys.exit(main())
