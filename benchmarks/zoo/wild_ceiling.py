"""How far can the Welch spectrum go under `wild` at all? Supervised readers trained on the test conditions themselves.

    python benchmarks/zoo/wild_ceiling.py ZOO_ROOT [--wild-views 2] [--epochs 40] [--cache DIR] [--json OUT.json]
        [--features welch cooc] [--canonical-jpeg Q] [--train-per-class N]

The encoder issue's last seen-generator cells are detection AUC under ``wild`` (docs/zoo-benchmark.md):
the Welch-spectrum encoder reaches 79.6 with the whole gallery where +15 over the spectrum means 82.7.
This script asks whether that is a limit of the *reading* (what SupCon and the k-NN make of the
spectrum) or of the *input* (what a downscale and a lossy save leave of a generator's trace in a
2-D Welch spectrum of a 256-px image). It trains readers that are as favoured as a reader can be:
supervised on the labels they are scored on, and — with ``--wild-views N`` — on the training
images sent through the ``wild`` chains themselves (seeds 1..N; the test split is read with seed 0,
as ``aidetect evaluate`` reads it), beside the same readers trained without those views (clean
images and the fingerprint recipe's augmentation, as the probe and the product train):

* ``logistic, real vs AI``: a class-balanced logistic regression on the standardised spectrum;
* ``mlp, real vs AI``: the probe's MLP shape (2,112 → hidden → BatchNorm → GELU → Dropout → 1), binary cross-entropy,
  classes balanced by weighting;
* ``mlp, C classes``: the same shape with one output per class, cross-entropy; its accuracy is
  attribution by a classifier (no gallery), its AUC is on 1 − P(real).

A reader trained on the very chains it is tested on bounds from above what any augmentation of a
spectrum reader could buy under ``wild``; it does not bound other inputs (pixels, a CNN).

``--features`` picks the inputs: ``welch`` (the default), ``cooc`` (co-occurrences of quantised
pixel residuals, within and across colour channels: aidetect/models/cooccurrence.py, what the grey
power spectrum cannot see), or both: every image is then decoded once for both, and the readers
are trained on each input alone and on both side by side (the table's ``input`` column), so the
three are compared on the same images, views and chains. ``--canonical-jpeg Q`` re-saves every
image read as a JPEG at quality Q last (welch_learned_probe.CanonicalJPEG): the zoo's photographs
carry a JPEG history its generators' PNG files lack, and a pixel statistic can read that history
instead of a generator; the control says how much of a gain survives when every image carries a
JPEG grid. ``--train-per-class N`` reads N training images of each class (seeded), for inputs
that cost more to read than the spectrum.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from torch import nn  # noqa: E402

from aidetect.config import PreprocessConfig  # noqa: E402
from aidetect.data.perturb import WildConditions  # noqa: E402
from aidetect.models.cooccurrence import ResidualCooccurrence  # noqa: E402
from aidetect.models.encoder import SideBySide as JoinedReadings  # noqa: E402
from aidetect.recipes import RECIPES  # noqa: E402
from feature_probe import split_files  # noqa: E402
from welch_learned_probe import CanonicalJPEG  # noqa: E402
from welch_probe import REAL, RawSpectrum, check_zoo_arguments, raw_features  # noqa: E402


def train_classifier(x: np.ndarray, y: np.ndarray, n_out: int, *, hidden: int, epochs: int, seed: int) -> nn.Module:
    """Linear → BatchNorm → GELU → Dropout 0.2 → Linear(n_out) over ``x`` (already standardised by
    the caller, who reads every reader's test features through the same statistics), cross-entropy
    (``n_out`` 1: binary, positives weighted to balance the classes), AdamW with a one-cycle
    schedule; returned in eval mode."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(x.shape[1], hidden), nn.BatchNorm1d(hidden), nn.GELU(), nn.Dropout(0.2), nn.Linear(hidden, n_out))
    xt, yt = torch.from_numpy(x).float(), torch.from_numpy(y)
    if n_out == 1:
        positives = float(yt.float().mean())
        loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor((1 - positives) / positives))
    else:
        loss_fn = nn.CrossEntropyLoss()
    optimiser = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.05)
    batch, steps = 512, max(1, len(x) // 512)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=1e-3, total_steps=epochs * steps)
    generator = torch.Generator().manual_seed(seed)
    net.train()
    for epoch in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for step in range(steps):
            rows = order[step * batch:(step + 1) * batch]
            out = net(xt[rows])
            loss = loss_fn(out[:, 0], yt[rows].float()) if n_out == 1 else loss_fn(out, yt[rows])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
    return net.eval()


class SideBySide(JoinedReadings):
    """The package's joined readings (one decode serves all), named for the probes' feature cache."""

    def __init__(self, readers: list[nn.Module]) -> None:
        super().__init__(*readers)
        self.feature = "+".join(r.feature for r in readers)  # the probes' cache key prefix


def feature_width(reader: nn.Module, image_size: int) -> int:
    with torch.inference_mode():
        return reader(torch.rand(1, 3, image_size, image_size)).shape[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("zoo", type=Path, help="data root with train/ and test/ class folders (the zoo)")
    parser.add_argument("--image-size", type=int, default=256, help="side of the centred crop read (64 or more)")
    parser.add_argument("--views", type=int, default=4, help="readings of each training image without wild: one clean, the rest after the fingerprint recipe's augmentation")
    parser.add_argument("--wild-views", type=int, default=2, help="readings of each training image through a wild chain (seeds 1..N)")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--conditions", nargs="+", default=["clean", "jpeg:75", "wild"], help="test conditions")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the table here")
    parser.add_argument("--cache", type=Path, help="keep the raw features here (shared with welch_learned_probe.py)")
    parser.add_argument("--features", nargs="+", choices=("welch", "cooc"), default=["welch"],
                        help="the inputs: the Welch spectrum, residual co-occurrences, or both (each alone and side by side)")
    parser.add_argument("--train-per-class", type=int, default=0, metavar="N", help="training images read per class (0: all)")
    parser.add_argument("--canonical-jpeg", type=int, metavar="Q", help="re-save every image read as a JPEG at quality Q last")
    parser.set_defaults(leave_out=[])  # check_zoo_arguments reads it; every class trains here
    args = parser.parse_args(argv)
    if min(args.views, args.wild_views, args.epochs, args.hidden) < 1:
        parser.error("--views, --wild-views, --epochs and --hidden must be at least 1")
    if args.train_per_class < 0:
        parser.error("--train-per-class must be 0 (all) or more")
    if args.canonical_jpeg is not None and not 1 <= args.canonical_jpeg <= 100:
        parser.error("--canonical-jpeg must lie between 1 and 100")
    classes, conditions = check_zoo_arguments(parser, args)
    real = classes.index(REAL)

    preprocess = PreprocessConfig(image_size=args.image_size, mode="crop")
    names = list(dict.fromkeys(args.features))
    parts = [(RawSpectrum("welch") if name == "welch" else ResidualCooccurrence()).eval() for name in names]
    reader = parts[0] if len(parts) == 1 else SideBySide(parts).eval()
    # each input's columns of the joined feature: every feature alone, and all of them together
    bounds = np.cumsum([0] + [feature_width(p, args.image_size) for p in parts])
    inputs = {name: np.arange(bounds[i], bounds[i + 1]) for i, name in enumerate(names)}
    if len(names) > 1:
        inputs["+".join(names)] = np.arange(bounds[-1])
    if args.canonical_jpeg:
        reader = CanonicalJPEG(reader, args.canonical_jpeg).eval()

    def read(paths, **options):
        return raw_features(reader, paths, preprocess, cache=args.cache, **options)

    augment = RECIPES["fingerprint"].augment
    train_paths, train_labels = split_files(args.zoo, "train", classes, args.train_per_class, args.seed)
    test_paths, test_labels = split_files(args.zoo, "test", classes, 0, args.seed)
    started = time.time()
    plain = [read(train_paths)]
    plain += [read(train_paths, augment=augment, view=v) for v in range(1, args.views)]
    wild = [read(train_paths, perturb=WildConditions(seed=s)) for s in range(1, args.wild_views + 1)]
    tests = {c: read(test_paths, perturb=p) for c, p in conditions.items()}
    print(f"features read in {time.time() - started:.0f} s", file=sys.stderr)

    training = {"clean + recipe augmentation": plain, f"… + {args.wild_views} wild views": plain + wild}
    is_ai = test_labels != real
    rows = []
    print("| training views | input | reader | " + " | ".join(f"{c} accuracy | {c} AUC" for c in conditions) + " |")
    print("|---|---|---|" + "---|---|" * len(conditions))
    for views_name, views in training.items():
        for input_name, columns in inputs.items():
            x, y = np.concatenate(views)[:, columns], np.tile(train_labels, len(views))
            started = time.time()
            # one standardisation, the training views', for all three readers and every test condition
            mean, spread = x.mean(axis=0), x.std(axis=0) + 1e-6
            x = (x - mean) / spread
            logistic = LogisticRegression(C=0.1, max_iter=3000, class_weight="balanced")
            logistic.fit(x, y != real)
            binary = train_classifier(x, (y != real).astype(np.int64), 1, hidden=args.hidden, epochs=args.epochs, seed=args.seed)
            multi = train_classifier(x, y, len(classes), hidden=args.hidden, epochs=args.epochs, seed=args.seed)
            print(f"{views_name}, {input_name}: readers trained in {time.time() - started:.0f} s", file=sys.stderr)
            standardised = {condition: (features[:, columns] - mean) / spread for condition, features in tests.items()}
            for reader_name in ("logistic, real vs AI", "mlp, real vs AI", f"mlp, {len(classes)} classes"):
                cells = {}
                for condition, z in standardised.items():
                    accuracy = None
                    with torch.inference_mode():
                        if reader_name.startswith("logistic"):
                            score = logistic.decision_function(z)
                        elif reader_name.startswith("mlp, real"):
                            score = binary(torch.from_numpy(z).float())[:, 0].numpy()
                        else:
                            probabilities = torch.softmax(multi(torch.from_numpy(z).float()), dim=1).numpy()
                            score = 1 - probabilities[:, real]
                            accuracy = 100 * float((probabilities.argmax(axis=1) == test_labels).mean())
                    cells[condition] = {"accuracy": accuracy, "auc": 100 * roc_auc_score(is_ai, score)}
                rows.append({"training": views_name, "input": input_name, "reader": reader_name, "cells": cells})
                print(f"| {views_name} | {input_name} | {reader_name} | " + " | ".join(
                    f"{'–' if cell['accuracy'] is None else format(cell['accuracy'], '.1f')} | {cell['auc']:.1f}"
                    for cell in cells.values()) + " |", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"zoo": str(args.zoo), "image_size": args.image_size, "views": args.views,
                                         "wild_views": args.wild_views, "epochs": args.epochs, "hidden": args.hidden,
                                         "features": args.features, "canonical_jpeg": args.canonical_jpeg,
                                         "train_per_class": args.train_per_class,
                                         "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
