"""The 2-D Welch spectrum alone, no network: how well does each linear reading of it attribute and detect?

    python benchmarks/zoo/welch_probe.py ZOO_ROOT [--image-size 128] [--leave-out CLASS ...]
        [--feature welch|radial] [--conditions clean jpeg:75 wild] [--k 11] [--json OUT.json]

Every image of the zoo's train and test splits (the centred ``--image-size`` crop at native
resolution, as `evaluate` reads a 128-px model's input) gives the raw feature of
aidetect.models.welch: the log power spectrum of its grey high-pass residual, averaged over 64-px
tiles (2,112 numbers). Three readings of it, each fitted on the train split's clean images (the
product fits its own on augmented ones) and used as the embedding of the product's k-NN (weighted
vote for attribution, similarity gap for detection; gallery = the train split, all of it and 50 per
class):

* ``standardised``: each number standardised, nothing else (what the radial yardstick does with
  its 128 rings);
* ``pca+wccn``: the product's map (``--spectrum welch``): standardised, first 128 principal axes,
  whitened within class (aidetect.models.readout.fit_whitened_projection);
* ``lda``: linear discriminant analysis (scikit-learn, shrinkage chosen by Ledoit-Wolf): the
  C − 1 directions that best separate the fitted classes, and nothing else.

With ``--feature radial`` the same three readings are made of the spectrum yardstick's 128 ring
averages instead (aidetect.models.spectrum, before its standardisation): which of the two
changes, the 2-D plane or the fitted map, makes the difference.

With ``--leave-out``, those classes are left out of every fit (not of the gallery): their accuracy
and their detection AUC against ``real`` are the zero-shot columns, which say whether a reading
learned *the zoo's generators* or *what a generator changes in a spectrum*.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from aidetect.config import SPECTRUM_BINS, AugmentConfig, PreprocessConfig  # noqa: E402
from aidetect.data.perturb import parse_perturbation  # noqa: E402
from aidetect.data.dataset import ImageFileDataset, collate  # noqa: E402
from aidetect.models.readout import WCCN_SHRINKAGE, fit_whitened_projection  # noqa: E402
from aidetect.models.spectrum import SpectrumFeatures  # noqa: E402
from aidetect.models.welch import WelchSpectrumFeatures  # noqa: E402
from aidetect.settings import REAL  # noqa: E402
from feature_probe import knn_accuracy, similarity_gap, split_files  # noqa: E402


class RawSpectrum(nn.Module):
    """Images → a spectrum feature before any statistics: the Welch feature (steps 1-3 of
    aidetect.models.welch) or the yardstick's ring averages (aidetect.models.spectrum)."""

    def __init__(self, feature: str) -> None:
        super().__init__()
        self.feature = feature
        self.spectrum = WelchSpectrumFeatures(1) if feature == "welch" else SpectrumFeatures(SPECTRUM_BINS)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.spectrum.raw(images)


def raw_features(reader: nn.Module, paths: list[str], preprocess: PreprocessConfig, *, perturb=None,
                 augment: AugmentConfig | None = None, view: int = 0, cache: Path | None = None) -> np.ndarray:
    """``reader``'s raw feature (:class:`RawSpectrum`) of every file's centred crop, after ``perturb``
    (a test condition) or ``augment`` (seeded by ``view``, so a view is the same set of draws on
    every run). With ``cache``, kept there under a key of everything that decides it (the feature,
    files, size, condition, augmentation, view)."""
    if cache is not None:
        key = hashlib.sha256(json.dumps([paths, preprocess.image_size, getattr(perturb, "key", None),
                                         repr(augment), view]).encode()).hexdigest()[:16]
        stored = cache / f"{reader.feature}-{key}.npy"
        if stored.is_file():
            return np.load(stored)
        features = raw_features(reader, paths, preprocess, perturb=perturb, augment=augment, view=view)
        cache.mkdir(parents=True, exist_ok=True)
        partial = stored.with_name(f"{stored.stem}.{os.getpid()}.tmp.npy")  # one per process: probes share a cache
        np.save(partial, features)
        partial.replace(stored)  # whole or not at all
        return features
    dataset = ImageFileDataset(paths, None, preprocess, perturb=perturb, augment=augment)
    dataset.set_epoch(view)
    out = []
    with torch.inference_mode():
        for batch in DataLoader(dataset, batch_size=64, collate_fn=collate):
            if batch.failures:
                raise SystemExit(f"error: {batch.failures[0][1]}")
            out.append(reader(batch.images).numpy())
    return np.concatenate(out)


def fit_readings(x: np.ndarray, labels: np.ndarray, dim: int = 128) -> dict:
    """Each reading as a function of raw features, fitted on (x, labels)."""
    mean, spread = x.mean(axis=0), x.std(axis=0) + 1e-6
    standardise = lambda z: (z - mean) / spread  # noqa: E731
    centre, projection, _ = fit_whitened_projection(
        [(torch.from_numpy(x), torch.from_numpy(labels))], [x.shape[1]], min(dim, x.shape[1]), WCCN_SHRINKAGE, "the probe")
    centre, projection = centre.numpy(), projection.numpy()
    lda = LinearDiscriminantAnalysis(solver="eigen", shrinkage="auto").fit(standardise(x), labels)
    return {"standardised": standardise, "pca+wccn": lambda z: (z - centre) @ projection,
            "lda": lambda z: lda.transform(standardise(z))}


def unit(z: np.ndarray) -> np.ndarray:
    return (z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)).astype(np.float32)


TABLE_HEADER = ("| reading | condition | gallery | accuracy | AUC (gap) | zero-shot accuracy | zero-shot AUC |\n"
                "|---|---|---|---|---|---|---|")


def fifty_per_class(labels: np.ndarray, n_classes: int, seed: int) -> np.ndarray:
    """Row indices of a seeded draw of 50 rows per class (all of a smaller class): the 50-per-class gallery."""
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.choice(np.flatnonzero(labels == c), min(50, int((labels == c).sum())), replace=False)
                           for c in range(n_classes)])


def score_readings(readings: dict, train: np.ndarray, train_labels: np.ndarray, test: np.ndarray, test_labels: np.ndarray,
                   *, condition: str, fifty: np.ndarray, n_classes: int, real: int, zero_shot: np.ndarray, k: int) -> list[dict]:
    """Each reading (raw features → embedding) as the product reads an embedding, on one test condition:
    k-NN accuracy and similarity-gap detection AUC with the whole train split and with ``fifty`` as the
    gallery, and both on the ``zero_shot`` test rows; printed as rows of :data:`TABLE_HEADER`, returned."""
    is_ai = test_labels != real
    rows = []
    for name, read in readings.items():
        with torch.inference_mode():
            gallery, queries = unit(read(train)), unit(read(test))
        for label, rows_of in (("all", np.arange(len(train_labels))), ("50", fifty)):
            right = knn_accuracy(gallery[rows_of], train_labels[rows_of], queries, test_labels, n_classes, k)
            gap = similarity_gap(gallery[rows_of], train_labels[rows_of] == real, queries, k)
            row = {"reading": name, "condition": condition, "gallery": label, "accuracy": 100 * right.mean(),
                   "auc": 100 * roc_auc_score(is_ai, gap), "zero_shot_accuracy": None, "zero_shot_auc": None}
            if zero_shot.any():
                mine = zero_shot | ~is_ai
                row["zero_shot_accuracy"] = 100 * right[zero_shot].mean()
                row["zero_shot_auc"] = 100 * roc_auc_score(is_ai[mine], gap[mine])
            rows.append(row)
            print(f"| {name} | {condition} | {label} | " + " | ".join(
                "–" if row[key] is None else f"{row[key]:.1f}"
                for key in ("accuracy", "auc", "zero_shot_accuracy", "zero_shot_auc")) + " |", flush=True)
    return rows


def score_conditions(readings: dict, train: np.ndarray, train_labels: np.ndarray, read_test, test_labels: np.ndarray, *,
                     conditions: dict, classes: list[str], leave_out: list[str], fifty: np.ndarray, k: int) -> list[dict]:
    """:func:`score_readings` under every test condition (``read_test(perturbation)`` gives the test
    split's raw features), with the whole train split and ``fifty`` (:func:`fifty_per_class`) as
    galleries; prints the table, returns its rows."""
    zero_shot = np.isin(test_labels, [classes.index(c) for c in leave_out])
    rows = []
    print(TABLE_HEADER)
    for condition, perturb in conditions.items():
        rows += score_readings(readings, train, train_labels, read_test(perturb), test_labels, condition=condition,
                               fifty=fifty, n_classes=len(classes), real=classes.index(REAL), zero_shot=zero_shot, k=k)
    return rows


def check_zoo_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[list[str], dict]:
    """The checks both Welch probes make of ``zoo``, ``--image-size``, ``--leave-out`` and ``--conditions``
    (a one-line usage error each); returns the zoo's classes and the parsed test conditions."""
    for split in ("train", "test"):
        if not (args.zoo / split).is_dir():
            parser.error(f"{args.zoo / split} is missing: ZOO_ROOT needs train/ and test/ class folders")
    if args.image_size < 64:
        parser.error("--image-size must be 64 or more (the Welch tiles are 64 px)")
    classes = sorted(p.name for p in (args.zoo / "train").iterdir() if p.is_dir())
    unknown = sorted(set(args.leave_out) - set(classes))
    if unknown or REAL not in classes:
        parser.error(f"--leave-out {unknown} are not classes of {args.zoo / 'train'}" if unknown
                     else f"{args.zoo / 'train'} has no '{REAL}' class to detect against")
    torch.set_num_threads(1)  # one core per process on this shared machine (docs/performance.md)
    return classes, {c: (None if c == "clean" else parse_perturbation(c)) for c in args.conditions}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("zoo", type=Path, help="data root with train/ and test/ class folders (the zoo)")
    parser.add_argument("--image-size", type=int, default=128, help="side of the centred crop read (64 or more)")
    parser.add_argument("--feature", choices=("welch", "radial"), default="welch", help="which spectrum (default welch)")
    parser.add_argument("--leave-out", nargs="*", default=[], metavar="CLASS", help="classes kept out of every fit")
    parser.add_argument("--conditions", nargs="+", default=["clean", "jpeg:75", "wild"], help="test conditions")
    parser.add_argument("--k", type=int, default=11)
    parser.add_argument("--seed", type=int, default=0, help="the draw of 50 per class")
    parser.add_argument("--json", type=Path, help="also write the table here")
    args = parser.parse_args(argv)
    classes, conditions = check_zoo_arguments(parser, args)

    preprocess = PreprocessConfig(image_size=args.image_size, mode="crop")
    reader = RawSpectrum(args.feature).eval()

    train_paths, train_labels = split_files(args.zoo, "train", classes, 0, args.seed)
    test_paths, test_labels = split_files(args.zoo, "test", classes, 0, args.seed)
    train = raw_features(reader, train_paths, preprocess)
    held = np.isin(train_labels, [classes.index(c) for c in args.leave_out])
    readings = fit_readings(train[~held], train_labels[~held])
    rows = score_conditions(readings, train, train_labels, lambda perturb: raw_features(reader, test_paths, preprocess, perturb=perturb), test_labels,
                            conditions=conditions, classes=classes, leave_out=args.leave_out,
                            fifty=fifty_per_class(train_labels, len(classes), args.seed), k=args.k)
    if args.json:
        args.json.write_text(json.dumps({"zoo": str(args.zoo), "feature": args.feature, "image_size": args.image_size, "leave_out": args.leave_out,
                                         "k": args.k, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
