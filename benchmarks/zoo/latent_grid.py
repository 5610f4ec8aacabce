"""Where in the spectrum are the latent decoders? A no-training probe of the zoo's `taesd-*` classes
against `real`, band by band and at the decoder's 8-px cell period.

    python benchmarks/zoo/latent_grid.py ZOO_ROOT [--per-class 141] [--condition clean|jpeg:75|wild]
        [--json OUT.json]

Each test image of ``real`` and of the five ``taesd-*`` classes (the largest centred square whose side
is a multiple of 8, grey, Hann-windowed) gives its log power spectrum, read two ways:

* **bands**: the mean log power in rings of radial frequency (cycles per pixel);
* **cell peaks**: the log power at k/8 cycles per pixel on the two axes, less that of the bins two
  either side (a peak over its surroundings, so the image's content cancels). A latent decoder grows
  each 8×8 cell of pixels from one latent vector by three ×2 up-samplings, so its output repeats with
  the cell: k = 1 and 3 are periods only the 8-px cell has; k = 2 is shared with a 4-px period, k = 4
  (1/2 cycle per pixel) with the 2×2 grid that NPR reads (aidetect.models.encoder).

The table is the detection AUC of real against each decoder with that one number as the score,
higher = AI (an AUC under 50 means the decoder has *less* of it than the photographs). What it
answers for the encoder issue: whether the decoders' trace lies where the fingerprint recipe's 2×2
residual looks, or at the cell's own period, which that residual attenuates (the question behind
``--front-end npr-latent``). A JPEG's 8×8 blocks sit on the same period: ``--condition jpeg:75``
shows what is left of the contrast once every image has them.

The first N files of each class in name order are used (the zoo's generator classes are made from the
real test windows, so they are the same windows). CPU, numpy only; a few seconds per class.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from aidetect.errors import AidetectError  # noqa: E402
from aidetect.fileio import atomic_write_json  # noqa: E402
from aidetect.settings import REAL  # noqa: E402
from probe_inputs import parse_probe_args, probe_inputs, probe_parser  # noqa: E402

DECODERS = ("taesd-sd1", "taesd-sdxl", "taesd-sd3", "taesd-flux1", "taesd-flux2")
CELL = 8
#: ring edges in cycles per pixel; the last ring holds the corners beyond 1/2
BAND_EDGES = (0.0, 1 / 32, 1 / 16, 1 / 8, 3 / 16, 1 / 4, 3 / 8, 1 / 2, 0.75)
PEAK_NEIGHBOUR = 2  # bins either side of a peak that stand for its surroundings


def parse_args(argv=None) -> argparse.Namespace:
    return parse_probe_args(probe_parser(__doc__, per_class=141), argv)


def feature_names() -> list[str]:
    bands = [f"band {a:.3f}-{b:.3f}" for a, b in zip(BAND_EDGES, BAND_EDGES[1:])]
    return bands + [f"cell peak {k}/8" for k in range(1, CELL // 2 + 1)]


def log_power(grey: np.ndarray) -> np.ndarray:
    """Centred log power spectrum of a square grey image (mean removed, Hann-windowed)."""
    side = grey.shape[0]
    window = np.outer(np.hanning(side), np.hanning(side))
    spectrum = np.fft.fftshift(np.fft.fft2((grey - grey.mean()) * window))
    return np.log(np.abs(spectrum) ** 2 + 1e-8)


def features(grey: np.ndarray) -> list[float]:
    """Band means and cell-peak contrasts (feature_names() order) of a square grey image whose side is
    a multiple of CELL."""
    side = grey.shape[0]
    if grey.shape != (side, side) or side % CELL:
        raise ValueError(f"needs a square image with sides a multiple of {CELL}, got {grey.shape}")
    power = log_power(grey)
    centre = side // 2
    yy, xx = np.mgrid[-centre:side - centre, -centre:side - centre]
    radius = np.hypot(xx, yy) / side
    values = [float(power[(radius >= a) & (radius < b)].mean()) for a, b in zip(BAND_EDGES, BAND_EDGES[1:])]
    step = side // CELL  # bins per 1/8 cycle per pixel
    for k in range(1, CELL // 2 + 1):
        peaks, around = [], []
        for sign in (-1, 1):
            offset = sign * k * step
            if not -centre <= offset < side - centre:
                continue  # +1/2 lies outside an even-sided spectrum; -1/2 stands for it
            for axis_row, axis_col in ((centre, centre + offset), (centre + offset, centre)):
                peaks.append(power[axis_row, axis_col])
                for d in (-PEAK_NEIGHBOUR, PEAK_NEIGHBOUR):
                    # neighbours along the same axis; the spectrum is periodic, so -1/2's outer one wraps
                    if axis_row == centre:
                        around.append(power[axis_row, (axis_col + d) % side])
                    else:
                        around.append(power[(axis_row + d) % side, axis_col])
        values.append(float(np.mean(peaks) - np.mean(around)))
    return values


def grey_square(path: Path, perturb) -> np.ndarray:
    """The file, perturbed, as grey float64, cut to its largest centred square with a side a multiple of CELL."""
    from PIL import Image

    try:
        with Image.open(path) as opened:
            image = perturb(opened.convert("RGB"))
    except OSError as error:
        raise AidetectError(f"{path}: not a readable image ({error}); rebuild that class of the zoo") from None
    grey = np.asarray(image.convert("L"), dtype=np.float64)
    side = (min(grey.shape) // CELL) * CELL
    if side < 4 * CELL:
        raise AidetectError(f"{path}: {grey.shape[1]}x{grey.shape[0]} is too small for the probe (it needs sides of "
                            f"{4 * CELL} px or more after --condition); use a zoo of 256-px windows or a milder condition")
    top, left = (grey.shape[0] - side) // 2, (grey.shape[1] - side) // 2
    return grey[top:top + side, left:left + side]


def auc_table(values: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """values[class] -> [images, features]; AUC[feature][decoder] of real against that decoder, higher = AI."""
    from sklearn.metrics import roc_auc_score

    real = values[REAL]
    table: dict[str, dict[str, float]] = {}
    for j, name in enumerate(feature_names()):
        table[name] = {}
        for decoder, fake in values.items():
            if decoder == REAL:
                continue
            labels = np.r_[np.zeros(len(real)), np.ones(len(fake))]
            table[name][decoder] = float(roc_auc_score(labels, np.r_[real[:, j], fake[:, j]]))
    return table


def main(argv=None) -> int:
    args = parse_args(argv)
    classes = [REAL, *DECODERS]
    try:
        perturb, files = probe_inputs(args, classes)
    except AidetectError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    values = {}
    for c in classes:
        try:
            values[c] = np.array([features(grey_square(path, perturb)) for path in files[c]])
        except AidetectError as error:  # every class must score the same windows, so a bad file stops the probe
            print(f"error: {error}", file=sys.stderr)
            return 2
    table = auc_table(values)
    print(f"Detection AUC of real against each latent decoder, score = one spectral feature, higher = AI "
          f"({perturb.key}, {min(len(f) for f in files.values())} images per class)\n")
    print("| feature (cycles per pixel) | " + " | ".join(DECODERS) + " |")
    print("|---" * (len(DECODERS) + 1) + "|")
    for name, row in table.items():
        print(f"| {name} | " + " | ".join(f"{100 * row[d]:.1f}" for d in DECODERS) + " |")
    if args.json:
        atomic_write_json(args.json, {"condition": perturb.key, "features": feature_names(),
                                      "files": {c: [p.name for p in f] for c, f in files.items()},
                                      "values": {c: v.tolist() for c, v in values.items()}, "auc": table})
    return 0


if __name__ == "__main__":
    sys.exit(main())
